"""Progress lines on stderr while `charlm score` reads a long text: one pass per model, nothing
for a short text, and the results on stdout the same either way."""


import pytest

from charlm import progress
from charlm.progress import Progress, Quiet, for_text
from conftest import VERSE
from tiny_model import make_working_copy


def test_a_pass_prints_its_start_a_line_every_few_seconds_and_its_end():
    now, lines = [100.0], []
    report = Progress("score", 1_000, every=5.0, clock=lambda: now[0], write=lines.append)
    with report.step("network") as advance:
        for done, seconds in [(100, 1.0), (300, 4.0), (500, 3.0), (700, 2.4), (900, 1.0), (1_000, 5.0)]:
            now[0] += seconds
            advance(done)
        now[0] += 0.3
    assert lines == ["score: network: 1,000 characters to read",
                     "score: network: 300 of 1,000 characters (30%), 5 s",
                     "score: network: 700 of 1,000 characters (70%), 10 s",  # 5.4 s after the line before
                     "score: network: 1,000 characters in 16.7 s"]


def test_only_a_long_text_gets_progress(monkeypatch):
    assert isinstance(for_text("score", progress.MIN_CHARACTERS - 1), Quiet)
    assert isinstance(for_text("score", progress.MIN_CHARACTERS), Progress)
    assert progress.MIN_CHARACTERS == 100_000 and progress.EVERY_SECONDS == 5.0  # as docs/command.md says


TEXT = VERSE * 12  # three of the network's scoring windows


@pytest.fixture(scope="module")
def working_copy(tmp_path_factory):
    return make_working_copy(tmp_path_factory.mktemp("progress") / "copy", text=VERSE * 6)


def score(copy, capsys, *options) -> tuple[str, str]:
    from charlm.command import build_parser

    (copy / "text.txt").write_text(TEXT, encoding="utf-8")
    args = build_parser().parse_args(["score", str(copy / "text.txt"), "--model", str(copy / "models"),
                                      "--data", str(copy / "data/processed"), "--params", str(copy / "params.yaml"),
                                      "--metrics", str(copy / "metrics/eval.json"), *options])
    capsys.readouterr()
    args.run(args)
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_score_tells_each_pass_of_a_long_text_and_prints_the_same_results(working_copy, capsys, monkeypatch):
    quiet_out, quiet_err = score(working_copy, capsys, "--adaptive")
    assert quiet_err == ""  # a short text: no progress
    # The same text taken for a long one: a line at each chance, the adaptive network read in several calls.
    monkeypatch.setattr(progress, "MIN_CHARACTERS", 10)
    monkeypatch.setattr(progress, "EVERY_SECONDS", 0.0)
    monkeypatch.setattr("charlm.dynamic.CHUNK_SEGMENTS", 20)
    monkeypatch.setattr("charlm.ngram.PROGRESS_EVERY", 100)
    monkeypatch.setattr("charlm.interpolation.PROGRESS_EVERY", 100)
    out, err = score(working_copy, capsys, "--adaptive")
    assert out == quiet_out
    total = len(TEXT) - 1
    lines = err.splitlines()
    for name in ("network", "ngram", "adaptive ngram", "adaptive local_ngram", "adaptive network", "adaptive mixture"):
        mine = [line for line in lines if line.startswith(f"score: {name}: ")]
        assert mine[0] == f"score: {name}: {total:,} characters to read", name
        assert mine[-1].startswith(f"score: {name}: {total:,} characters in "), name
        if name != "ngram":  # whole arrays at a time: a start and an end only
            assert any(f" of {total:,} characters (" in line for line in mine[1:-1]), name
    assert len(lines) == sum(line.startswith("score: ") for line in lines)
