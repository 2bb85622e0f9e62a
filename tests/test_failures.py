"""Bad input ends in one `error: ...` line with no traceback and leaves earlier outputs intact;
a killed `dvc repro` loses nothing and the next one resumes training to the same weights."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import safetensors.numpy

from conftest import VERSE
from pipeline_repo import ONE_SHAPE, PipelineRepo

OUTPUTS = ["data/interim/corpus.txt", "data/processed/vocab.json", "data/processed/train.npy",
           "models/weights.safetensors", "models/config.json", "metrics/eval.json", "reports/samples.md"]


@pytest.fixture(scope="module")
def reproduced(tiny_pipeline):
    return tiny_pipeline


def _md5s(repo):
    return {name: hashlib.md5((repo.path / name).read_bytes()).hexdigest() for name in OUTPUTS}


def _break_zip(repo):
    (repo.path / "data/jaychou_lyrics.txt.zip").write_bytes(b"not a zip")


def _truncate_weights(repo):
    path = repo.path / "models/weights.safetensors"
    path.write_bytes(path.read_bytes()[:100])


def _foreign_vocabulary(repo):
    path = repo.path / "models/config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "vocab_fingerprint": "0" * 16}))


@pytest.mark.parametrize("stage, breakage, message", [
    ("unzip", _break_zip, "error: data/jaychou_lyrics.txt.zip (unzip.path): not a zip archive; run `dvc pull"),
    ("unzip", {"unzip.member": "lyrics.txt"},
     "error: data/jaychou_lyrics.txt.zip: no member 'lyrics.txt' in the zip (it holds jaychou_lyrics.txt)"),
    ("vocab", {"vocab.valid_fractoin": 0.1}, "error: params.yaml: unknown key 'vocab.valid_fractoin'; did you mean "
                                             "'vocab.valid_fraction'?"),
    ("vocab", {"vocab.min_count": 10**6}, "error: vocab.min_count=1000000 folds every character into <unk>"),
    ("train", {"train.batch_size": 10_000}, "error: the train part"),
    ("train", {"train.seed": 2**32}, "error: params.yaml: 'train.seed' must be >= 0 and <= 4294967295"),
    ("train", {"train.lr": 0}, "error: params.yaml: 'train.lr' must be > 0.0, got 0"),
    ("evaluate", _truncate_weights, "error: models/weights.safetensors: unreadable weights"),
    ("generate", _foreign_vocabulary, "error: models: the model was trained with another vocabulary"),
    ("generate", {"generate.temperature": -1}, "error: params.yaml: 'generate.temperature' must be >= 0.01, got -1"),
    ("generate", {"generate.temperature": 1.0e-308}, "error: params.yaml: 'generate.temperature' must be >= 0.01"),
    ("generate", {"generate.prefixes": [""]}, "error: params.yaml: 'generate.prefixes' must hold non-empty strings"),
])
def test_bad_input_gives_one_line_and_keeps_earlier_outputs(reproduced, tmp_path, stage, breakage, message):
    repo = reproduced.copy(tmp_path / "repo")
    if callable(breakage):
        breakage(repo)
    else:
        repo.set_params(breakage)
    before = _md5s(repo)
    # The stage as `python stages/<stage>.py` runs it, then a line on whether it imported TensorFlow.
    tell = ("import runpy, sys; sys.path.insert(0, 'stages')\n"
            f"try:\n    runpy.run_path('stages/{stage}.py', run_name='__main__')\n"
            "finally:\n    print('TensorFlow imported' if 'tensorflow' in sys.modules else 'no TensorFlow')\n")
    result = repo.run(sys.executable, "-c", tell, check=False)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert _md5s(repo) == before
    # Every mistake but one that only training finds stops the stage before TensorFlow starts,
    # a missing, foreign or damaged model included (charlm.model_files).
    imported = "error: the train part" in message
    assert result.stdout.splitlines()[-1] == ("TensorFlow imported" if imported else "no TensorFlow")


def test_malformed_params_names_the_line(reproduced, tmp_path):
    repo = reproduced.copy(tmp_path / "repo")
    (repo.path / "params.yaml").write_text("unzip:\n  member: [a\n")
    result = repo.stage("unzip")
    assert result.returncode == 1 and result.stderr.startswith("error: params.yaml: malformed YAML at line")
    assert "Traceback" not in result.stderr


def test_unknown_prefix_characters_are_a_warning(reproduced, tmp_path):
    repo = reproduced.copy(tmp_path / "repo")
    # One shape of every continuation and no long test prefix: fewer loops to compile, which only take time here.
    repo.set_params({"generate.prefixes": ["分开咖啡"], "generate.test_prefix_length": 0, **ONE_SHAPE})
    result = repo.stage("generate")
    assert result.returncode == 0
    assert "warning: prefix '分开咖啡': '咖啡' not in the vocabulary, read as <unk>" in result.stderr


def test_a_killed_repro_loses_nothing_resumes_to_the_same_weights_and_not_across_code_changes(tmp_path):
    slow = {"train.epochs": 12}  # seconds of training in all: time to kill it after its first epoch
    killed = PipelineRepo.create(tmp_path / "killed", text=VERSE * 300, overrides=slow)
    process = subprocess.Popen([sys.executable, "-m", "dvc", "repro"], cwd=killed.path, env=killed.env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    checkpoint = killed.path / "checkpoints/train.safetensors"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert checkpoint.exists(), "training never wrote its first checkpoint"
    time.sleep(0.1)  # into the second epoch or a little later
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()

    # Nothing half-written: every output is absent or whole.
    for name in ["models/weights.safetensors", "checkpoints/train.safetensors"]:
        if (killed.path / name).exists():
            safetensors.numpy.load_file(str(killed.path / name))
    for name in ["metrics/train.json", "metrics/train_history.json"]:
        if (killed.path / name).exists():
            json.loads((killed.path / name).read_text())

    # A copy whose code changes while it is interrupted: DVC reruns train, which starts afresh.
    edited = killed.copy(tmp_path / "edited")
    # Its stages run its own code (stages/this_checkout.py), whichever checkout is installed.
    with open(edited.path / "src/charlm/gru.py", "a", encoding="utf-8") as f:
        f.write("# edited while a run was interrupted\n")
    assert "train" in edited.changed_stages()
    restarted = edited.dvc("repro", "train")  # the stages after it follow from its outputs alone
    assert "resuming" not in restarted.stderr + restarted.stdout
    assert "made with other params, data, code or library versions; training starts afresh" in restarted.stderr

    resumed = killed.dvc("repro", "train")
    assert "resuming from the checkpoint after epoch" in resumed.stderr + resumed.stdout

    # The edited copy trained from the start without a stop (a comment changes no figure): the
    # resumed run ends with its bytes.
    for name in ["models/weights.safetensors", "models/config.json", "metrics/train.json", "metrics/train_history.json"]:
        assert (killed.path / name).read_bytes() == (edited.path / name).read_bytes(), name
