"""End to end: `dvc repro` in a temp git repo turns a tiny zip into every output and metric."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ADAPTIVE_MAX_CHARS


STAGES = ["unzip", "vocab", "train", "evaluate", "generate", "export"]
# The sampling controls off, as options of `charlm generate`.
CONTROLS_OFF = ["--top-p", "1", "--min-p", "0", "--repetition-penalty", "1", "--repetition-window", "0"]


@pytest.fixture(scope="module")
def reproduced(tiny_pipeline):
    return tiny_pipeline


def test_repro_runs_every_stage_and_leaves_status_clean(reproduced):
    assert reproduced.ran == STAGES
    assert "up to date" in reproduced.dvc("status").stdout


def test_every_output_and_metric_is_written(reproduced):
    path = reproduced.path
    for relative in ["data/interim/corpus.txt", "data/processed/vocab.json", "data/processed/train.npy",
                     "data/processed/valid.npy", "data/processed/test.npy", "data/processed/train_classes.npy",
                     "models/weights.safetensors",
                     "models/config.json", "models/savedmodel/saved_model.pb", "reports/samples.md"]:
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
    quality = reproduced.json("metrics/samples.json")
    assert set(quality) == {"sampled", "greedy", "held_out", "settings"}
    assert quality["sampled"]["pieces"] == 2 * 4 and quality["sampled"]["unk"] == 0  # 2 prefixes x quality_samples
    # Real text beside them: as many pieces, of the validation part's 15 pieces of 12 characters
    # (spread over it).
    assert quality["held_out"]["pieces"] == 2 * 4 < data["characters"]["valid"] // 12
    train_characters = reproduced.json("metrics/data.json")["characters"]["train"]
    assert reproduced.json("metrics/eval.json")["train_characters_scored"] == train_characters - 1  # all, below the bound
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
        "error: data/jaychou_lyrics.txt.zip (unzip.path): corpus not found; run `dvc pull data/jaychou_lyrics.txt.zip.dvc` "
        "(see the README for getting the lyrics from d2l-zh)"]


@pytest.mark.parametrize("stage", ["unzip", "vocab"])
def test_cheap_stages_never_import_tensorflow(reproduced, stage):
    # sys.path[0] is the script's folder, as `python stages/<stage>.py` sets it.
    check = (f"import runpy, sys; sys.path.insert(0, 'stages'); runpy.run_path('stages/{stage}.py', run_name='__main__'); "
             f"assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported TensorFlow'")
    result = reproduced.run(sys.executable, "-c", check, check=False)
    assert result.returncode == 0, result.stderr


def _long_test_prefix(repo) -> str:
    lines = (repo.path / "reports/samples.md").read_text(encoding="utf-8").splitlines()
    return next(line[2:] for line in lines if line.startswith("> "))


@pytest.fixture(scope="module")
def greedy_lines(reproduced) -> dict[str, str]:
    """`charlm generate --greedy --length 10` of 分开 and of the long test prefix, run once: each prefix's line."""
    prefixes = ["分开", _long_test_prefix(reproduced)]
    out = reproduced.charlm("generate", *prefixes, "--greedy", "--length", "10").stdout
    assert out.endswith("\n")  # the command ends its lines as samples.md does
    return dict(zip(prefixes, out.splitlines(), strict=True))


def test_charlm_generate_prints_the_stages_greedy_and_sampled_lines(reproduced, greedy_lines):
    samples = (reproduced.path / "reports/samples.md").read_text(encoding="utf-8")
    assert f"- greedy: {greedy_lines['分开']}\n" in samples
    # The stage's params: the default run's sampler, which the command uses unless told otherwise;
    # seed 0, 2 samples, prefixes 分开 and 不分开 in that order.
    sampled = reproduced.charlm("generate", "分开", "不分开", "--seed", "0", "--num-samples", "2",
                                "--length", "10").stdout.splitlines()
    assert sampled == [line.removeprefix("- sampled: ") for line in samples.splitlines() if line.startswith("- sampled: ")]
    assert [len(text) for text in sampled] == [12, 12, 13, 13]  # each prefix and 10 characters


def test_the_long_test_prefix_is_continued_statically_and_adaptively_as_the_command_does(reproduced, greedy_lines):
    lines = (reproduced.path / "reports/samples.md").read_text(encoding="utf-8").splitlines()
    prefix = _long_test_prefix(reproduced)
    assert prefix == _test_part(reproduced)[3:33]  # test_prefix_start 3, test_prefix_length 30
    continuation = {line.split(": …")[0][2:]: line.split(": …")[1] for line in lines if ": …" in line}
    assert set(continuation) == {"sampled, static", "sampled, adaptive", "greedy, static", "greedy, adaptive",
                                 "what the test part says next"}
    assert greedy_lines[prefix] == prefix + continuation["greedy, static"]
    # The stage's sampler, the default run's, is the command's default; seed 0 (the tiny params).
    out = reproduced.charlm("generate", prefix, "--seed", "0", "--length", "10").stdout
    assert out == prefix + continuation["sampled, static"] + "\n"
    # Read adaptively, the prefix continues as the stage's; and reading a prefix leaves the next one
    # as the trained weights would read it (they are restored): read again after 分开, the long
    # prefix continues as it did first.
    lines = reproduced.charlm("generate", prefix, "分开", prefix, "--greedy", "--length", "10",
                              "--adaptive").stdout.splitlines()
    assert lines[0] == prefix + continuation["greedy, adaptive"] == lines[2]
    assert lines[1].startswith("分开") and len(lines[1]) == 12


def _test_part(repo) -> str:
    corpus = (repo.path / "data/interim/corpus.txt").read_text(encoding="utf-8")
    return corpus[len(corpus) - repo.json("metrics/data.json")["characters"]["test"]:]


@pytest.fixture(scope="module")
def scored_test_part(reproduced) -> tuple[str, list[str]]:
    """The test part piped into `charlm score --per-char` (tests/test_own_corpus.py scores a file):
    the text and the lines printed."""
    text = _test_part(reproduced)
    result = subprocess.run([str(Path(sys.executable).parent / "charlm"), "score", "--per-char"], cwd=reproduced.path,
                            input=text, capture_output=True, text=True, env=reproduced.env)
    assert result.returncode == 0, result.stderr
    return text, result.stdout.splitlines()


def test_charlm_score_of_the_test_part_prints_evals_test_perplexities(reproduced, scored_test_part):
    text, lines = scored_test_part
    evaluation = reproduced.json("metrics/eval.json")
    assert lines[0] == f"{len(text) - 1:,} characters scored (each after the first), {evaluation['classes']:,} classes"
    printed = {line.split()[0]: float(line.split()[2]) for line in lines[1:lines.index("")]}
    assert printed == {"network": evaluation["perplexity"]["test"], "ngram": evaluation["ngram"]["test"],
                       "mixture": evaluation["mixture"]["test"]}


def test_eval_reports_adaptive_figures_that_charlm_score_reproduces(reproduced, tmp_path):
    evaluation = reproduced.json("metrics/eval.json")
    adaptive = evaluation["adaptive"]
    # Each part is read up to evaluate.adaptive_max_chars characters, fewer than it holds.
    assert evaluation["adaptive_characters_read"] == {"valid": ADAPTIVE_MAX_CHARS, "test": ADAPTIVE_MAX_CHARS}
    assert set(adaptive) == {"network", "ngram", "local_ngram", "mixture", "fixed_mixture", "xz", "xz_utf16", "ppmd"}
    for name, figures in adaptive.items():
        settings = {"encoding", "order", "memory_mb"} if name == "ppmd" else set()
        assert set(figures) == {"valid", "test"} | settings, name
        # A compressor counts whole bytes: on 120 characters of a repeated verse it may pay none.
        lowest = 1 if name in ("xz", "xz_utf16", "ppmd") else 1 + 1e-9
        assert figures["valid"] >= lowest and figures["test"] >= lowest, name
    # The validation part is read first from the trained state, so reading its first characters
    # alone gives its figures.
    valid = (reproduced.path / "data/processed/valid.txt").read_text(encoding="utf-8")
    assert len(valid) > ADAPTIVE_MAX_CHARS
    (tmp_path / "read.txt").write_text(valid[:ADAPTIVE_MAX_CHARS], encoding="utf-8")
    out = reproduced.charlm("score", "--adaptive", str(tmp_path / "read.txt")).stdout
    printed = {line.rsplit(" perplexity ")[0].strip(): float(line.split(" perplexity ")[1].split()[0])
               for line in out.splitlines()[1:] if " perplexity " in line}
    for name in ("network", "ngram", "local_ngram", "mixture"):
        assert printed[f"adaptive {name}"] == pytest.approx(adaptive[name]["valid"], rel=1e-5), name


def test_eval_reports_open_vocabulary_figures_beside_the_closed_class_ones(reproduced):
    evaluation = reproduced.json("metrics/eval.json")
    open_vocabulary = evaluation["open_vocabulary"]
    train = set((reproduced.path / "data/processed/train.txt").read_text(encoding="utf-8"))
    for part in ("valid", "test"):
        text = (reproduced.path / f"data/processed/{part}.txt").read_text(encoding="utf-8")
        unseen = sum(c not in train for c in text[1:])
        assert open_vocabulary["unseen"][part] == unseen
        # Spelling out an unseen character only adds to a model's cost; none to spell, none added.
        for key in ("perplexity", "ngram", "mixture"):
            assert open_vocabulary[key][part] > evaluation[key][part] if unseen else \
                open_vocabulary[key][part] == evaluation[key][part]
        read_unseen = sum(c not in train for c in text[1:ADAPTIVE_MAX_CHARS])  # the adaptive reading's
        for name, figures in open_vocabulary["adaptive"].items():
            closed = evaluation["adaptive"][name][part]
            assert figures[part] > closed if read_unseen else figures[part] == closed
    assert set(open_vocabulary["adaptive"]) == {"network", "ngram", "local_ngram", "mixture", "fixed_mixture"}


def test_charlm_score_per_char_lists_every_character_most_surprising_first(scored_test_part):
    text, lines = scored_test_part
    header = lines.index("position\tcharacter\tnetwork bits\tngram bits\tmixture bits")
    rows = [line.split("\t") for line in lines[header + 1:]]
    assert sorted(int(row[0]) for row in rows) == list(range(2, len(text) + 1))
    mixture_bits = [float(row[-1]) for row in rows]
    assert mixture_bits == sorted(mixture_bits, reverse=True) and min(mixture_bits) >= 0
    for position, character, *_ in rows:
        assert character == repr(text[int(position) - 1])


def test_charlm_score_needs_the_evaluate_stages_weight(reproduced, tmp_path):
    repo = reproduced.copy(tmp_path / "repo")
    (repo.path / "metrics/eval.json").unlink()
    result = repo.charlm("score", "data/interim/corpus.txt", check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["error: metrics/eval.json: not found; run `dvc repro evaluate` first "
                                          "(it fits the mixture weight)"]


# Loads the export stage's SavedModel with TensorFlow alone (run with `python -I`, so no PYTHONPATH)
# and prints what its signatures return, as JSON.
CALL_SAVEDMODEL = """
import json, sys
import tensorflow as tf

model = tf.saved_model.load("models/savedmodel")
def continuation(signature, temperature, top_k, seed):
    out = model.signatures[signature](prefix=tf.constant("分开"), length=tf.constant(10), temperature=tf.constant(temperature),
                                      top_k=tf.constant(top_k), seed=tf.constant(seed, tf.int64))
    return [out["text"].numpy().decode(), out["continuation"].numpy().decode()]
after = model.signatures["next_character"](prefix=tf.constant("分开"))
print(json.dumps({"greedy": continuation("serving_default", 0.0, 0, 0),
                  "sampled": [continuation("continue", 1.0, 3, 7), continuation("serving_default", 1.0, 3, 7),
                              continuation("continue", 1.0, 3, 8)],
                  "probabilities": after["probabilities"].numpy().tolist(),
                  "tokens": [token.decode() for token in after["tokens"].numpy()],
                  "charlm_imported": any(name.split(".")[0] == "charlm" for name in sys.modules)}))
"""


def test_the_savedmodel_continues_as_the_stage_and_the_command_do_without_charlm(reproduced):
    result = reproduced.run(sys.executable, "-I", "-c", CALL_SAVEDMODEL)
    out = json.loads(result.stdout)
    assert not out["charlm_imported"]
    samples = (reproduced.path / "reports/samples.md").read_text(encoding="utf-8")
    greedy_text, greedy_continuation = out["greedy"]
    assert f"- greedy: {greedy_text}\n" in samples
    assert greedy_text == "分开" + greedy_continuation and len(greedy_continuation) == 10
    (first, first_again, other_seed) = out["sampled"]
    assert first == first_again and first != other_seed  # the seed alone decides the draw
    command = reproduced.charlm("generate", "分开", "--temperature", "1.0", "--top-k", "3", "--seed", "7", *CONTROLS_OFF,
                                "--length", "10").stdout
    assert command == first[0] + "\n"
    assert out["tokens"] == reproduced.json("data/processed/vocab.json")["tokens"]
    probabilities = out["probabilities"]
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5) and probabilities[0] == 0  # <unk> is never emitted
    assert out["tokens"][probabilities.index(max(probabilities))] == greedy_continuation[0]


def test_saved_model_cli_lists_every_signature(reproduced):
    shown = reproduced.run(str(Path(sys.executable).parent / "saved_model_cli"), "show", "--all",
                           "--dir", "models/savedmodel").stdout
    for name in ("serving_default", "continue", "sample", "next_character"):
        assert f"signature_def['{name}']" in shown, name
    for name in ("prefix", "length", "temperature", "top_k", "seed", "top_p", "min_p", "repetition_penalty",
                 "repetition_window", "text", "continuation", "probabilities", "tokens"):
        assert f"['{name}'] tensor_info" in shown, name


def test_export_without_a_model_stops_with_one_line(reproduced, tmp_path):
    repo = reproduced.copy(tmp_path / "repo")
    (repo.path / "models/config.json").unlink()
    result = repo.stage("export")
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["error: models/config.json: model file not found; run `dvc repro train` first"]
