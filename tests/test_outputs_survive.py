"""Earlier outputs survive a failed or stopped `dvc repro` (every output is `persist: true` and
written atomically), one training runs per checkout, and a stage ends when `dvc` is killed."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline_repo import PipelineRepo

OUTPUTS = ["models/weights.safetensors", "models/config.json", "metrics/train.json", "metrics/train_history.json",
           "metrics/eval.json", "metrics/samples.json", "reports/samples.md", "data/processed/vocab.json"]


def leftovers(repo: PipelineRepo) -> list[str]:
    """Temporary files of atomic writes left in the output folders."""
    return [str(p) for folder in ("models", "metrics", "reports", "data") for p in (repo.path / folder).rglob(".*.tmp")]


@pytest.fixture(scope="module")
def reproduced(tiny_pipeline):
    return tiny_pipeline


@pytest.mark.parametrize("change, stage", [({"train.lr": 0}, "train"), ({"generate.temperature": -1}, "generate")])
def test_a_failed_repro_leaves_the_earlier_outputs(reproduced, tmp_path, change, stage):
    repo = reproduced.copy(tmp_path / "repo")
    before = {name: (repo.path / name).read_bytes() for name in OUTPUTS}
    repo.set_params(change)
    result = repo.dvc("repro", stage, check=False)
    assert result.returncode != 0 and "error: params.yaml:" in result.stderr + result.stdout
    assert {name: (repo.path / name).read_bytes() for name in OUTPUTS} == before
    assert leftovers(repo) == []


def wait_for_training(repo: PipelineRepo, process: subprocess.Popen) -> int:
    """The process id in the training lock, once training holds it."""
    lock, deadline = repo.path / ".train.lock", time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        text = lock.read_text().strip() if lock.exists() else ""
        if text and (repo.path / "checkpoints/train.safetensors").exists():
            return int(text)
        time.sleep(0.05)
    raise AssertionError("training never took its lock and wrote a checkpoint")


def has_ended(pid: int) -> bool:
    """Gone, or a zombie: an orphan that ended stays one where the init process does not reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


def ended_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if has_ended(pid):
            return True
        time.sleep(0.05)
    return False


def test_one_training_per_checkout_and_none_outlives_a_killed_dvc(reproduced, tmp_path):
    repo = reproduced.copy(tmp_path / "repo")
    repo.set_params({"train.epochs": 20000})  # minutes: long enough to be killed while it runs
    # The copy's lock file names the process that trained it (the lock itself went with that
    # process), and its checkpoint is of a finished run: start from neither.
    for name in (".train.lock", "checkpoints/train.safetensors"):
        (repo.path / name).unlink()
    # DVC runs a stage through $SHELL, or /bin/sh where it is unset (as under CI): dash, which
    # forks where bash would exec, is the case that once orphaned the stage.
    dvc = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "train"], cwd=repo.path,
                           env={**repo.env, "SHELL": "/bin/sh"},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    trainer = wait_for_training(repo, dvc)
    try:
        second = repo.stage("train")
        assert second.returncode == 1
        assert second.stderr.splitlines() == [
            f"error: training is already running in this checkout (process {trainer}, holding .train.lock); "
            f"wait for it to end or stop it first"]
        dvc.kill()  # `dvc repro` alone, as `kill -KILL <pid of dvc>` does
        dvc.wait()
        assert ended_within(trainer, 60), "the training stage outlived the dvc that ran it"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(trainer, signal.SIGKILL)
    assert leftovers(repo) == []
    # The lock went with its holder: a new run may train (and resumes from the checkpoint).
    repo.set_params({"train.epochs": 2})
    assert repo.stage("train").returncode == 0
