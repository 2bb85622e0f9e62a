"""End to end: `dvc repro` in a temp git repo turns a tiny zip into every output and metric."""

import sys

import pytest

from pipeline_repo import PipelineRepo

STAGES = ["unzip", "vocab", "train", "evaluate", "generate"]


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    repo = PipelineRepo.create(tmp_path_factory.mktemp("e2e") / "repo")
    repo.ran = repo.repro()
    return repo


def test_repro_runs_every_stage_and_leaves_status_clean(reproduced):
    assert reproduced.ran == STAGES
    assert "up to date" in reproduced.dvc("status").stdout


def test_every_output_and_metric_is_written(reproduced):
    path = reproduced.path
    for relative in ["data/interim/corpus.txt", "data/processed/vocab.json", "data/processed/train.npy",
                     "data/processed/valid.npy", "data/processed/test.npy", "data/processed/train_classes.npy",
                     "models/weights.safetensors",
                     "models/config.json", "reports/samples.md"]:
        assert (path / relative).stat().st_size > 0, relative

    data = reproduced.json("metrics/data.json")
    total = sum(data["characters"].values())
    assert total == len((path / "data/interim/corpus.txt").read_text(encoding="utf-8"))
    assert data["characters"]["valid"] == data["characters"]["test"] == round(total * 0.1)

    train = reproduced.json("metrics/train.json")
    assert train["epochs_run"] == 2 and 1 <= train["best_epoch"] <= 2
    history = reproduced.json("metrics/train_history.json")
    assert [row["epoch"] for row in history] == [1, 2]
    assert reproduced.json("metrics/train_timing.json")["chars_per_second"] > 0

    evaluation = reproduced.json("metrics/eval.json")
    assert evaluation["classes"] == data["train_characters_distinct"] + 1
    for split in ("train", "valid", "test"):
        assert 1 < evaluation["perplexity"][split] < evaluation["classes"]
    assert evaluation["perplexity"]["valid"] == pytest.approx(train["valid_perplexity"], rel=1e-3)
    ngram, mixture = evaluation["ngram"], evaluation["mixture"]
    assert 1 < ngram["test"] < evaluation["classes"] and 0 <= mixture["network_weight"] <= 1
    # The weight is fit on validation, so there the mixture is at least as good as either model.
    assert mixture["valid"] <= min(ngram["valid"], evaluation["perplexity"]["valid"]) * 1.0001

    samples = (path / "reports/samples.md").read_text(encoding="utf-8")
    assert "## 分开" in samples and "## 不分开" in samples and "- greedy: 分开" in samples
    assert samples.count("- sampled: 不分开") == 2  # generate.num_samples


def test_metrics_and_plots_commands_work(reproduced):
    shown = reproduced.dvc("metrics", "show").stdout
    assert "metrics/eval.json" in shown and "perplexity.valid" in shown
    plots = reproduced.dvc("plots", "show", "--json").stdout
    assert "valid_perplexity" in plots


def test_missing_corpus_stops_the_first_stage_with_one_line(reproduced, tmp_path):
    repo = reproduced.copy(tmp_path / "repo")
    (repo.path / "data/jaychou_lyrics.txt.zip").unlink()
    result = repo.stage("unzip")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: data/jaychou_lyrics.txt.zip: corpus not found; run `dvc pull data/jaychou_lyrics.txt.zip.dvc` "
        "(see the README for getting it from d2l-zh)"]


@pytest.mark.parametrize("stage", ["unzip", "vocab"])
def test_cheap_stages_never_import_tensorflow(reproduced, stage):
    check = (f"import runpy, sys; runpy.run_path('stages/{stage}.py', run_name='__main__'); "
             f"assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported TensorFlow'")
    result = reproduced.run(sys.executable, "-c", check, check=False)
    assert result.returncode == 0, result.stderr
