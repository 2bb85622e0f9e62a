"""Shared helpers: tiny corpora and params made by the tests themselves."""

import os
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# A short lyric-like text; repeated, it is easy to memorise, which the convergence tests rely on.
VERSE = "分开 不分开 我的爱 想要和你飞到宇宙去 想要和你融化在一起 融化在宇宙里 我每天在想著你 这样的甜蜜 让我开始相信命运 "


def pytest_collection_modifyitems(items):
    """The modules that read the shared tiny pipeline run after the others (the order is stable
    otherwise): while the first of them builds it, the other pytest-xdist worker runs tests that
    need no pipeline instead of waiting for it."""
    items.sort(key=lambda item: "tiny_pipeline" in getattr(item, "fixturenames", ()))


def make_zip(path: Path, text: str, member: str = "jaychou_lyrics.txt") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, text.encode("utf-8"))
    return path


def write_params(path: Path, overrides: dict | None = None) -> Path:
    """Write a params.yaml: the tiny configuration, with `overrides` as {"section.key": value}."""
    import yaml

    params = tiny_params()
    for dotted, value in (overrides or {}).items():
        section, key = dotted.split(".")
        params[section][key] = value
    path.write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def default_sampler() -> dict:
    """The sampler of the default run (the project's params.yaml), which the tiny params share, so
    that the tests show `charlm generate` without options sampling as the stage does."""
    import yaml

    from charlm.params import SAMPLER_DEFAULTS

    generate = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))["generate"]
    return {key: generate[key] for key in SAMPLER_DEFAULTS}


# The tiny pipeline's held-out parts are 183 characters each; its adaptive figures read fewer.
ADAPTIVE_MAX_CHARS = 120


def tiny_params() -> dict:
    return {
        "unzip": {"path": "data/jaychou_lyrics.txt.zip", "member": "jaychou_lyrics.txt", "newlines_to_spaces": True, "max_chars": None},
        "vocab": {"valid_fraction": 0.1, "test_fraction": 0.1, "min_count": 1},
        "train": {"seed": 0, "input": "embedding", "embedding_dim": 16, "cell": "gru", "hidden_size": 16,
                  "num_layers": 1, "dropout": 0.0, "recurrent_dropout": 0.0, "tie_embeddings": False,
                  "num_steps": 8, "batch_size": 4, "epochs": 2, "optimizer": "adam", "lr": 0.01, "lr_decay": 1.0,
                  "clip_norm": 1.0, "weight_decay": 0.0, "random_offset": True, "patience": 0,
                  "checkpoint_windows": 0, "distribute": "none"},
        "evaluate": {"ngram_order": 3, "ngram_discount": 0.75, "adaptive_ngram_order": 4,
                     "adaptive_ngram_discount": 0.8, "local_ngram_order": 3, "mixer_lr": 0.05,
                     "adaptive_max_chars": ADAPTIVE_MAX_CHARS},
        "dynamic": {"segment": 5, "lr": 0.01, "decay": 0.01, "softening": 1.0},
        "generate": {"prefixes": ["分开", "不分开"], "length": 10, **default_sampler(), "seed": 0,
                     "num_samples": 2, "adaptive": False, "test_prefix_start": 3, "test_prefix_length": 30,
                     "quality_samples": 4, "quality_length": 12},
    }


@pytest.fixture
def params_file(tmp_path):
    return write_params(tmp_path / "params.yaml")


def _run_folder(tmp_path_factory) -> Path:
    """A folder of this test run that every pytest-xdist worker shares."""
    shared = tmp_path_factory.getbasetemp()
    return shared.parent if os.environ.get("PYTEST_XDIST_WORKER") else shared


@pytest.fixture(scope="session", autouse=True)
def compiled_once(tmp_path_factory):
    """TensorFlow processes the tests start share one cache of XLA's compiled programs on disk:
    most tests run the tiny pipeline's stages and commands again on the same shapes, and XLA
    compiling them anew was half of a generate stage's time (22.9 -> 11.6 CPU-s). Within one
    process a cache gains little: each new model's functions get new names, which are part of the
    key. A program is loaded only if its HLO matches exactly what it was compiled from, so outputs
    are the same bytes (tests/test_dvc_contract.py reruns every stage, loading what the first run
    compiled, and compares). TensorFlow writes each entry to a file of its own and renames it into
    place, so processes writing at once never leave a half-written entry for another to read."""
    os.environ["TF_XLA_FLAGS"] = f"--tf_xla_persistent_cache_directory={_run_folder(tmp_path_factory) / 'xla_cache'}"


def xla_cache_read_only(env: dict) -> dict:
    """`env` for a process whose file writes are made to fail (tests/test_full_disk.py): it loads
    from the XLA cache but never writes to it, so that only the stage's own writes can fail."""
    return {**env, "TF_XLA_FLAGS": env["TF_XLA_FLAGS"] + " --tf_xla_persistent_cache_read_only=true"}


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory, compiled_once):
    """One tiny pipeline, `dvc repro`-ed and committed, shared by every test that only reads it or
    works on a copy of it (`tiny_pipeline.copy(path)`): a full repro costs tens of seconds. Under
    pytest-xdist the workers share it too: the first to get the lock builds it, the others wait.
    Only tests/test_pipeline.py runs commands in it; every other test copies it first."""
    import fcntl
    import json

    from pipeline_repo import PipelineRepo

    shared = _run_folder(tmp_path_factory)
    folder, built = shared / "tiny_pipeline", shared / "tiny_pipeline.json"
    with open(shared / "tiny_pipeline.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if built.exists():
            repo = PipelineRepo(folder / "repo")
            repo.ran = json.loads(built.read_text())
            return repo
        folder.mkdir()
        repo = PipelineRepo.create(folder / "repo")
        repo.ran = repo.repro()
        repo.git("add", "-A")
        repo.git("commit", "-q", "-m", "reproduced")
        built.write_text(json.dumps(repo.ran))
        return repo
