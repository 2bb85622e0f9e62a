"""A throwaway git + DVC copy of the project, with a tiny corpus and tiny params, for end-to-end tests."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, VERSE, make_zip, write_params

# The copy holds its own `src`: its stages import it (stages/this_checkout.py), and dvc.yaml lists it as deps.
PROJECT_FILES = ["dvc.yaml", "src", "stages", ".gitignore", "data/.gitignore"]
# Generate params under which every continuation the stage writes has one shape (one sample of the
# tiny params' length), so XLA compiles one loop with the sampling controls and one without: for
# tests of something else than the samples.
ONE_SHAPE = {"generate.num_samples": 1, "generate.quality_samples": 1, "generate.quality_length": 10}


class PipelineRepo:
    def __init__(self, path: Path):
        self.path = path
        # `python` in dvc.yaml's commands must be this interpreter, and dvc and charlm this environment's;
        # the stages import the copy's own `src` (no PYTHONPATH).
        self.env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    @classmethod
    def create(cls, path: Path, text: str = VERSE * 30, overrides: dict | None = None,
               corpus: str = "data/jaychou_lyrics.txt.zip") -> "PipelineRepo":
        """A repo whose corpus `corpus` (unzip.path in its params) holds `text`: zipped when the name
        ends in .zip, else plain UTF-8 text."""
        path.mkdir(parents=True)
        for name in PROJECT_FILES:
            source, target = ROOT / name, path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, target)
        repo = cls(path)
        repo.git("init", "-q", "-b", "main")
        repo.git("config", "user.email", "tests@example.com")
        repo.git("config", "user.name", "tests")
        repo.dvc("init", "-q")
        repo.dvc("config", "core.analytics", "false")
        if corpus.endswith(".zip"):
            make_zip(path / corpus, text)
        else:
            (path / corpus).write_text(text, encoding="utf-8")
        # dvc.yaml takes the corpus path from params.yaml, so DVC needs params.yaml from the start.
        write_params(path / "params.yaml", {"unzip.path": corpus, **(overrides or {})})
        repo.dvc("add", "-q", corpus)
        repo.git("add", "-A")
        repo.git("commit", "-q", "-m", "tiny pipeline")
        return repo

    def copy(self, path: Path) -> "PipelineRepo":
        # Not .dvc/tmp: DVC's locks and index, which a dvc command running in the original may be
        # changing (DVC makes them anew).
        shutil.copytree(self.path, path, symlinks=True,
                        ignore=lambda folder, names: ["tmp"] if Path(folder).name == ".dvc" else [])
        return PipelineRepo(path)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(args, cwd=self.path, env=self.env, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("git", *args, check=check)

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc", *args, check=check)

    def charlm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run the installed `charlm` command in the repo."""
        return self.run(str(Path(sys.executable).parent / "charlm"), *args, check=check)

    def stage(self, name: str, check: bool = False) -> subprocess.CompletedProcess:
        """Run one stage script directly, as dvc.yaml does."""
        env_run = subprocess.run([sys.executable, f"stages/{name}.py"], cwd=self.path, capture_output=True, text=True,
                                 env=self.env)
        if check and env_run.returncode != 0:
            raise AssertionError(env_run.stderr)
        return env_run

    def set_params(self, overrides: dict) -> None:
        import yaml

        params = yaml.safe_load((self.path / "params.yaml").read_text(encoding="utf-8"))
        for dotted, value in overrides.items():
            section, key = dotted.split(".")
            params[section][key] = value
        (self.path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False),
                                               encoding="utf-8")

    def json(self, relative: str):
        return json.loads((self.path / relative).read_text(encoding="utf-8"))

    def repro(self, *args: str) -> list[str]:
        """Run `dvc repro` and return the stages it ran, in order."""
        out = self.dvc("repro", *args).stdout
        return [line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")]

    def changed_stages(self) -> set[str]:
        """Stages that `dvc status` names (those whose own dependencies changed)."""
        out = self.dvc("status").stdout
        return {line[:-1].strip() for line in out.splitlines() if line and not line[0].isspace() and line.endswith(":")}
