"""A full disk, an output folder that cannot be written and streams that cannot take a stage's
lines end in one `error:` line naming the output, and leave every earlier output byte-identical
with no temporary file behind.

A full disk is simulated without privileges by a file-size limit on the stage's process
(RLIMIT_FSIZE): a write past it fails with EFBIG ("File too large") as one to a full device fails
with ENOSPC, through the same code. SIGXFSZ is ignored in the child, a disposition that survives
exec, so the write fails instead of the signal killing the process. The tests run as root, for
whom chmod makes no folder read-only: a file where the output folder should be stands for one.
"""

import hashlib
import os
import resource
import signal
import subprocess
import sys

import pytest

from conftest import xla_cache_read_only
from pipeline_repo import ONE_SHAPE, PipelineRepo

OUTPUTS = ["metrics/data.json", "models/weights.safetensors", "models/config.json", "checkpoints/train.safetensors",
           "metrics/train.json", "metrics/train_history.json", "metrics/train_timing.json", "metrics/eval.json",
           "metrics/samples.json", "reports/samples.md"]
OUTPUT_FOLDERS = ("models", "metrics", "reports", "checkpoints", "data")


@pytest.fixture(scope="module")
def reproduced(tiny_pipeline):
    return tiny_pipeline


def outputs(repo: PipelineRepo) -> dict[str, str]:
    """md5 of every output file, the vocab stage's data and the SavedModel's files included."""
    files = ([repo.path / name for name in OUTPUTS] + sorted((repo.path / "data/processed").iterdir())
             + sorted((repo.path / "models/savedmodel").rglob("*")))
    return {str(f.relative_to(repo.path)): hashlib.md5(f.read_bytes()).hexdigest() for f in files if f.is_file()}


def temporaries(repo: PipelineRepo) -> list[str]:
    return [str(p) for folder in OUTPUT_FOLDERS if (repo.path / folder).is_dir()
            for p in (repo.path / folder).rglob(".*.tmp*")]


def limit_file_size(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def run_stage(repo: PipelineRepo, name: str, file_size: int | None = None, **streams) -> subprocess.CompletedProcess:
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **streams}
    return subprocess.run([sys.executable, f"stages/{name}.py"], cwd=repo.path, env=xla_cache_read_only(repo.env),
                          text=True, preexec_fn=limit_file_size(file_size) if file_size else None, **streams)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    """The project's own lines; TensorFlow's AutoGraph also warns (in several lines) when it
    cannot write the temporary files of the code it converts, and then runs that code as it is."""
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("stage, file_size, path", [
    # The checkpoint, written after the first epoch, is the first file training writes.
    ("train", 20_000, "checkpoints/train.safetensors"),
    ("evaluate", 1_000, "metrics/eval.json"),
    # metrics/samples.json (about 1,080 bytes) is written first, to its temporary, then reports/samples.md
    # (about 1,280 under ONE_SHAPE without the long test prefix) fails: the first must not be replaced alone.
    ("generate", 1_150, "reports/samples.md"),
    ("export", 100_000, "models/savedmodel"),  # TensorFlow's SavedModel writer raises its own errors
])
def test_a_full_disk_while_a_stage_writes_leaves_every_earlier_output(reproduced, tmp_path, stage, file_size, path):
    repo = reproduced.copy(tmp_path / "repo")
    before = outputs(repo)
    if stage == "generate":  # the long test prefix and other shapes only take time here
        repo.set_params({"generate.test_prefix_length": 0, **ONE_SHAPE})
    result = run_stage(repo, stage, file_size)
    assert result.returncode == 1
    assert error_lines(result) == [f"error: {path}: cannot be written (File too large); "
                                   f"the earlier outputs are as they were"]
    assert outputs(repo) == before
    assert temporaries(repo) == []


def test_a_metrics_folder_that_cannot_be_written_leaves_the_models_train_wrote_before_it(reproduced, tmp_path):
    # train writes models/weights.safetensors and models/config.json, then metrics/train.json: the
    # first two must wait for the third, not replace the earlier models alone.
    repo = reproduced.copy(tmp_path / "repo")
    before = outputs(repo)
    metrics = repo.path / "metrics"
    for f in metrics.iterdir():
        f.unlink()
    metrics.rmdir()
    metrics.write_text("a file where the folder should be, as a read-only folder would be to a user\n")
    result = run_stage(repo, "train")
    assert result.returncode == 1
    assert error_lines(result) == ["error: metrics/train.json: cannot be written (metrics is a file, not a folder); "
                                   "the earlier outputs are as they were"]
    after = outputs(repo)
    # The per-epoch checkpoint is written as training goes (so a killed run resumes), not held back.
    kept = {name: md5 for name, md5 in before.items() if name.startswith("models/")}
    assert {name: after[name] for name in kept} == kept
    assert temporaries(repo) == []


def test_a_stage_s_report_to_a_full_device_leaves_the_earlier_outputs(reproduced, tmp_path):
    repo = reproduced.copy(tmp_path / "repo")
    before = outputs(repo)
    # Other parts: outputs that differ from the earlier ones, which must not replace them.
    repo.set_params({"vocab.valid_fraction": 0.2})
    with open("/dev/full", "w") as full:  # stdout sent to a full device
        result = run_stage(repo, "vocab", stdout=full)
    assert result.returncode == 1
    assert error_lines(result) == ["error: standard output: cannot write (No space left on device); the earlier "
                                   "outputs are as they were; free some space or write elsewhere"]
    assert outputs(repo) == before
    assert temporaries(repo) == []


def test_warnings_to_a_full_device_are_lost_and_the_stage_succeeds(reproduced, tmp_path):
    repo = reproduced.copy(tmp_path / "repo")
    # A prefix with unknown characters: a warning; one shape of every continuation and no long test
    # prefix, which only take time here.
    repo.set_params({"generate.prefixes": ["分开咖啡"], "generate.test_prefix_length": 0, **ONE_SHAPE})
    with open("/dev/full", "w") as full:  # stderr sent to a full device
        result = run_stage(repo, "generate", stderr=full)
    assert result.returncode == 0
    assert "## 分开咖啡" in result.stdout and "## 分开咖啡" in (repo.path / "reports/samples.md").read_text()


def test_a_full_disk_under_dvc_repro_leaves_every_earlier_output(reproduced, tmp_path):
    repo = reproduced.copy(tmp_path / "repo")
    before = outputs(repo)
    # The limit on the stage alone: DVC itself must write its own state. dvc.yaml's `python` is the
    # first on PATH, here one that limits the file size and then runs the real interpreter.
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    (bin_folder / "python").write_text(
        f"#!{sys.executable}\n"
        "import os, resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
        f"os.execv({sys.executable!r}, [{sys.executable!r}, *sys.argv[1:]])\n")
    (bin_folder / "python").chmod(0o755)
    repo.env = xla_cache_read_only({**repo.env, "PATH": f"{bin_folder}{os.pathsep}{repo.env['PATH']}"})
    repo.set_params({"vocab.valid_fraction": 0.2})  # other parts: vocab reruns, its outputs would differ
    result = repo.dvc("repro", "vocab", check=False)
    assert result.returncode != 0 and "Running stage 'vocab'" in result.stdout
    assert "error: data/processed/train.txt: cannot be written (File too large); the earlier outputs are as they were" in (
        result.stdout + result.stderr).splitlines()
    assert "Traceback" not in result.stdout + result.stderr
    assert outputs(repo) == before
    assert temporaries(repo) == []
    assert (repo.path / "dvc.lock").read_bytes() == (reproduced.path / "dvc.lock").read_bytes()
