"""Training on one's own text: a plain UTF-8 file in a Latin script, line breaks kept, named by
unzip.path, goes through every stage and the `charlm` command."""

import pytest

from pipeline_repo import PipelineRepo

POEM = ("the river runs down to the sea\n"
        "and the sea runs up to the sky\n"
        "the sky comes down again as rain\n"
        "and the rain runs home to the river\n\n")
# No long test prefix and the measured samples of the report's shape: what this corpus checks needs
# neither the adaptive reading nor other compiled lengths, and each costs seconds of compiling.
OWN = {"unzip.member": None, "unzip.newlines_to_spaces": False, "generate.prefixes": ["the ", "and"],
       "generate.test_prefix_length": 0, "generate.quality_samples": 2, "generate.quality_length": 10}


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    repo = PipelineRepo.create(tmp_path_factory.mktemp("own") / "repo", text=POEM * 30, overrides=OWN,
                               corpus="data/poems.txt")
    repo.ran = repo.repro()
    return repo


def test_a_plain_text_corpus_goes_through_every_stage_with_its_line_breaks(reproduced):
    assert reproduced.ran == ["unzip", "vocab", "train", "evaluate", "generate", "export"]
    assert (reproduced.path / "data/interim/corpus.txt").read_text(encoding="utf-8") == POEM * 30
    tokens = reproduced.json("data/processed/vocab.json")["tokens"]
    assert "\n" in tokens and set(tokens[1:]) == set(POEM)
    evaluation = reproduced.json("metrics/eval.json")
    for split in ("train", "valid", "test"):
        assert 1 < evaluation["perplexity"][split] < evaluation["classes"]
    samples = (reproduced.path / "reports/samples.md").read_text(encoding="utf-8")
    greedy = reproduced.charlm("generate", "the ", "--greedy", "--length", "10").stdout
    assert f"- greedy: {greedy}- sampled: the " in samples  # a continuation may hold line breaks


def test_charlm_score_keeps_line_breaks_as_the_corpus_did(reproduced):
    corpus = (reproduced.path / "data/interim/corpus.txt").read_text(encoding="utf-8")
    test_part = corpus[len(corpus) - reproduced.json("metrics/data.json")["characters"]["test"]:]
    assert "\n" in test_part
    (reproduced.path / "test_part.txt").write_text(test_part, encoding="utf-8")
    lines = reproduced.charlm("score", "test_part.txt").stdout.splitlines()
    printed = {line.split()[0]: float(line.split()[2]) for line in lines[1:]}
    evaluation = reproduced.json("metrics/eval.json")
    assert printed["network"] == evaluation["perplexity"]["test"]
    assert printed["ngram"] == evaluation["ngram"]["test"]
    assert printed["mixture"] == evaluation["mixture"]["test"]
    spaces = reproduced.charlm("score", "test_part.txt", "--newlines", "spaces").stdout.splitlines()
    assert float(spaces[1].split()[2]) != printed["network"]


def test_a_new_corpus_path_reruns_from_the_first_stage(reproduced, tmp_path):
    repo = reproduced.copy(tmp_path / "repo")
    (repo.path / "data/more.txt").write_text(POEM * 31, encoding="utf-8")
    repo.dvc("add", "-q", "data/more.txt")
    repo.set_params({"unzip.path": "data/more.txt"})
    assert repo.changed_stages() == {"unzip"}


@pytest.mark.parametrize("setup, message", [
    (lambda path: None, "error: data/absent.txt (unzip.path): corpus not found; set unzip.path in params.yaml"),
    (lambda path: path.write_bytes("café\n".encode("latin-1")),
     "error: data/absent.txt (unzip.path): not UTF-8 text (invalid byte at offset 3); convert it to UTF-8"),
])
def test_a_missing_or_non_utf8_corpus_names_the_param(reproduced, tmp_path, setup, message):
    repo = reproduced.copy(tmp_path / "repo")
    setup(repo.path / "data/absent.txt")
    repo.set_params({"unzip.path": "data/absent.txt"})
    result = repo.stage("unzip")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
