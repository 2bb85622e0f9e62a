"""train.distribute: the train stage on tf.distribute, run as a user runs it (stage scripts in
copies of the tiny pipeline, workers as processes on 127.0.0.1), against the single-device run."""

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from charlm import distribute
from charlm.errors import UserError

WEIGHTS = "models/weights.safetensors"


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_task_left_running():
    """A failing test must not leave a task waiting for its cluster for ever."""
    yield
    while STARTED:
        process = STARTED.pop()
        process.kill()
        process.wait()


def start_train(repo, environ: dict) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "stages/train.py"], cwd=repo.path, env={**repo.env, **environ},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    STARTED.append(process)
    return process


def weights(repo) -> dict[str, np.ndarray]:
    return safetensors.numpy.load_file(str(repo.path / WEIGHTS))


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:  # the same sums in another order: equal to float tolerance, not bit for bit
        np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-5, err_msg=name)


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and ".dvc" not in p.parts[:1]}


def epoch_lines(stderr: str) -> list[str]:
    """Each epoch's line up to its timing: the epoch, its train and its validation perplexity."""
    return [re.match(r"epoch .*valid ppl +\S+", line)[0] for line in stderr.splitlines() if line.startswith("epoch")]


@pytest.mark.parametrize("environ, message", [
    ({}, "TF_CONFIG (train.distribute=multi_worker reads the cluster from it) is not set"),
    ({"TF_CONFIG": "{cluster"}, "is not JSON"),
    ({"TF_CONFIG": '{"task": {"type": "worker", "index": 0}}'}, "has no `cluster`"),
    ({"TF_CONFIG": '{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}'},
     "must be a non-empty list of host:port addresses"),
    ({"TF_CONFIG": '{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}'}, "is not chief or worker"),
    ({"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "chief", "index": 0}}'},
     "`task` must name this process"),
    ({"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}'},
     "task index 2 is not one of the 2 worker addresses (0 to 1)"),
])
def test_tf_config_mistakes_are_named(environ, message):
    with pytest.raises(UserError) as caught:
        distribute.read_task(environ)
    assert message in str(caught.value)


def test_the_chief_is_tf_configs_chief_or_else_worker_0():
    two = {"worker": ["a:1", "b:2"]}
    assert distribute.Task(two, "worker", 0).is_chief and not distribute.Task(two, "worker", 1).is_chief
    with_chief = {"chief": ["c:3"], **two}
    assert distribute.Task(with_chief, "chief", 0).is_chief and not distribute.Task(with_chief, "worker", 0).is_chief
    assert distribute.Task(with_chief, "worker", 1).peers() == [("chief 0", "c:3"), ("worker 0", "a:1")]


def test_a_malformed_tf_config_is_one_error_line_before_training(tiny_pipeline, tmp_path):
    repo = tiny_pipeline.copy(tmp_path / "repo")
    repo.set_params({"train.distribute": "multi_worker"})
    before = files_of(repo.path / "models")
    result = subprocess.run([sys.executable, "stages/train.py"], cwd=repo.path, capture_output=True, text=True,
                            env={**repo.env, "TF_CONFIG": '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {}}'})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [result.stderr.strip()] and result.stderr.startswith("error: TF_CONFIG")
    assert files_of(repo.path / "models") == before


def test_mirrored_over_two_logical_cpus_trains_as_one_device(tiny_pipeline, tmp_path):
    repo = tiny_pipeline.copy(tmp_path / "repo")
    repo.set_params({"train.distribute": "mirrored"})
    run = subprocess.run([sys.executable, "stages/train.py"], cwd=repo.path, capture_output=True, text=True,
                         env={**repo.env, distribute.LOGICAL_CPUS_ENV: "2"})
    assert run.returncode == 0, run.stderr
    assert_same_weights(weights(repo), weights(tiny_pipeline))
    assert repo.json("metrics/train.json")["valid_perplexity"] == pytest.approx(
        tiny_pipeline.json("metrics/train.json")["valid_perplexity"], rel=1e-4)


def test_two_workers_on_loopback_train_as_one_device_and_only_the_chief_writes(tiny_pipeline, tmp_path):
    chief, worker = tiny_pipeline.copy(tmp_path / "chief"), tiny_pipeline.copy(tmp_path / "worker")
    for repo in (chief, worker):
        repo.set_params({"train.distribute": "multi_worker"})
    (chief.path / WEIGHTS).unlink()
    untouched = files_of(worker.path)
    configs = distribute.loopback_cluster(2)
    processes = [start_train(repo, {"TF_CONFIG": configs[i], distribute.TIMEOUT_ENV: "60"})
                 for i, repo in enumerate((chief, worker))]
    (_, chief_err), (_, worker_err) = [p.communicate(timeout=240) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], chief_err + worker_err
    # Every epoch's validation perplexity, from each worker's own weights, is the same.
    assert epoch_lines(chief_err) == epoch_lines(worker_err) and epoch_lines(chief_err)
    assert_same_weights(weights(chief), weights(tiny_pipeline))
    assert files_of(worker.path) == untouched  # no model, metrics, checkpoint or lock written


def test_a_worker_that_dies_ends_the_chief_with_one_error_line_and_the_rerun_resumes(tiny_pipeline, tmp_path):
    chief, worker = tiny_pipeline.copy(tmp_path / "chief"), tiny_pipeline.copy(tmp_path / "worker")
    for repo in (chief, worker):
        repo.set_params({"train.distribute": "multi_worker", "train.epochs": 40})
    bound = 10
    environ = [{"TF_CONFIG": config, distribute.TIMEOUT_ENV: str(bound)} for config in distribute.loopback_cluster(2)]
    processes = [start_train(repo, environ[i]) for i, repo in enumerate((chief, worker))]
    first_line = processes[0].stderr.readline()  # the chief's first epoch has ended (and been checkpointed)
    assert first_line.startswith("epoch"), first_line + processes[0].stderr.read()
    processes[1].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    processes[0].wait(timeout=bound + 30)
    ended = time.monotonic() - killed
    rest = processes[0].stderr.read().splitlines()
    processes[1].wait()
    assert processes[0].returncode == 1 and ended < bound + 15
    assert rest[-1].startswith("error: training stopped: worker 1 of the cluster died or stopped answering")
    assert not any("Traceback" in line for line in rest)

    environ = [{**e, "TF_CONFIG": config} for e, config in zip(environ, distribute.loopback_cluster(2))]
    processes = [start_train(repo, environ[i]) for i, repo in enumerate((chief, worker))]
    first = [p.stderr.readline() for p in processes]  # the chief's checkpoint restores both
    resumed = {line.strip() for line in first}
    assert len(resumed) == 1 and resumed.pop().startswith("resuming from the checkpoint after epoch "), first


def test_a_worker_that_never_comes_up_ends_the_chief_within_the_bound(tiny_pipeline, tmp_path):
    chief = tiny_pipeline.copy(tmp_path / "chief")
    chief.set_params({"train.distribute": "multi_worker"})
    start = time.monotonic()
    process = start_train(chief, {"TF_CONFIG": distribute.loopback_cluster(2)[0], distribute.TIMEOUT_ENV: "3"})
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0 and time.monotonic() - start < 60
    assert stderr.strip().splitlines()[-1] == (
        "error: the cluster did not come up within 3 s: worker 1 of TF_CONFIG is not answering; "
        f"start every task with its own TF_CONFIG (or raise {distribute.TIMEOUT_ENV})")
