"""Imported first by every stage: this checkout's `src/` goes to the front of `sys.path`.

`make setup` installs the package in editable mode, which points `import charlm` at the `src/` of
the checkout that ran it. DVC runs queued and temporary experiments (`dvc exp run --queue`,
`--temp`) in copies of the repository, and a user may keep several checkouts beside one
environment: in each, a stage must run the code of the copy it is in, the code whose md5s
`dvc.lock` and the checkpoint's key record.
"""

import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")

if sys.path[:1] != [SRC]:
    sys.path.insert(0, SRC)
if "charlm" in sys.modules and not str(getattr(sys.modules["charlm"], "__file__", "")).startswith(SRC):
    raise RuntimeError(f"charlm was imported from {sys.modules['charlm'].__file__} before {SRC} was put first")
