"""The `charlm` console script: run the code of the checkout the command is run in.

`make setup` installs the package in editable mode from one checkout. Run inside another copy of
the repository (a second clone, a `git worktree`, a DVC experiment workspace), `charlm` would
otherwise read that copy's models with the installed checkout's code. So when the working
directory lies in a checkout of this project whose `src/charlm` is not the package imported here,
that checkout's package replaces it before the command is loaded. Outside any checkout, the
installed package runs.
"""

import importlib
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def enclosing_checkout_src(start: Path) -> Path | None:
    """The `src/` of the nearest folder at or above `start` that holds dvc.yaml and src/charlm."""
    for folder in (start, *start.parents):
        if (folder / "dvc.yaml").is_file() and (folder / "src" / "charlm" / "__init__.py").is_file():
            return folder / "src"
    return None


def main() -> None:
    src = enclosing_checkout_src(Path.cwd().resolve())
    if src is not None and (src / "charlm").resolve() != PACKAGE_DIR:
        # Only this module and the package's empty __init__ are loaded so far: drop them and
        # import the checkout's package in their place.
        for name in [name for name in sys.modules if name == "charlm" or name.startswith("charlm.")]:
            del sys.modules[name]
        sys.path.insert(0, str(src))
        importlib.invalidate_caches()
    importlib.import_module("charlm.command").main()
