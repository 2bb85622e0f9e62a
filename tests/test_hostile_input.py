"""`charlm` on hostile streams and numbers: closed, endless or full standard streams, arguments that
are not UTF-8, and integers past what a tensor holds each end in one `error: ...` line and a
non-zero exit, never a traceback, a hang, or a silent success. Each runs the real command in a
process of its own, with the stream set up by the shell (`<&-`, `>&-`, `> /dev/full`)."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from charlm import params
from charlm.command import MAX_SCORE_BYTES
from charlm.errors import UserError
from conftest import write_params
from tiny_model import make_working_copy

CHARLM = str(Path(sys.executable).parent / "charlm")


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    return make_working_copy(tmp_path_factory.mktemp("hostile") / "copy")


def shell(script: str, cwd, env=None, timeout=60) -> subprocess.CompletedProcess:
    """Run `script` in bash with $CHARLM set, so that the shell arranges the streams."""
    return subprocess.run(["bash", "-c", script], cwd=cwd, env={**os.environ, "CHARLM": CHARLM, **(env or {})},
                          capture_output=True, timeout=timeout)


def one_error_line(result) -> str:
    stderr = result.stderr.decode("utf-8", "replace") if isinstance(result.stderr, bytes) else result.stderr
    assert result.returncode == 1, (result.returncode, stderr)
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


# Streams

def test_score_with_standard_input_closed(copy):
    line = one_error_line(shell('"$CHARLM" score <&-', copy))
    assert line == "error: standard input is closed; give a FILE to score, or pipe the text in"


@pytest.mark.parametrize("script, name", [('"$CHARLM" score /dev/zero', "/dev/zero"),
                                          ('yes 2>/dev/null | "$CHARLM" score -', "standard input")])
def test_score_of_an_endless_stream_stops_at_the_limit(copy, script, name):
    line = one_error_line(shell(script, copy))
    assert line == (f"error: {name}: more than {MAX_SCORE_BYTES:,} bytes (16 MiB), the most `charlm score` reads; "
                    f"score a shorter text, or split it")


def test_score_reads_a_text_just_under_the_limit(copy):
    (copy / "big.txt").write_bytes(b"a" * MAX_SCORE_BYTES)
    result = shell('"$CHARLM" score --params /dev/null big.txt', copy)
    # Read in full: the next complaint is about the (empty) params file, not the text's size.
    assert one_error_line(result).startswith("error: /dev/null: expected a mapping of sections")


def test_generate_to_a_full_device(copy):
    line = one_error_line(shell('"$CHARLM" generate 分开 --length 20 > /dev/full', copy))
    assert line == "error: standard output: cannot write (No space left on device); free some space or write elsewhere"


def test_score_to_a_full_device(copy):
    # score's lines wait in the buffer until the end: the last flush is checked too.
    line = one_error_line(shell('echo 分开不分开 | "$CHARLM" score > /dev/full', copy))
    assert line.startswith("error: standard output: cannot write (No space left on device)")


def test_generate_with_standard_output_closed_is_an_error(copy):
    line = one_error_line(shell('"$CHARLM" generate 分开 --length 20 >&-', copy))
    assert line == ("error: standard output is closed, so the results would be lost; "
                    "redirect it to a file or a pipe instead")


@pytest.mark.parametrize("prefix, offset", [(b"\xed\xa0\x80", 0), ("分开".encode() + b"\xff", 6)])
def test_a_prefix_that_is_not_utf8(copy, prefix, offset):
    # bash's $'\xed\xa0\x80' (a UTF-8-encoded surrogate) reaches Python as lone surrogates.
    result = subprocess.run([CHARLM, "generate", "分开", prefix, "--length", "5"], cwd=copy, capture_output=True,
                            env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"}, timeout=60)
    assert one_error_line(result) == (f"error: prefix 2 is not UTF-8 text (invalid byte at offset {offset}); "
                                      f"pass it as UTF-8")
    assert result.stdout == b""


def test_generate_to_an_output_whose_encoding_lacks_the_characters(copy):
    # The prefix starts its line, so the command stops before the model loads.
    result = shell('"$CHARLM" generate 分开 --length 5', copy, env={"PYTHONIOENCODING": "ascii"})
    assert one_error_line(result) == ("error: standard output's encoding (ascii) cannot write U+5206; "
                                      "use a UTF-8 locale or set PYTHONIOENCODING=utf-8")
    assert result.stdout == b""


def test_results_that_the_output_cannot_encode_are_one_error(monkeypatch):
    # A prefix the output can write may still continue with characters it cannot.
    from charlm.cli import write

    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="ascii"))
    write("the ")
    with pytest.raises(UserError, match=r"^standard output's encoding \(ascii\) cannot write U\+5206; use a UTF-8"):
        write("分开")


@pytest.mark.parametrize("params_path, message", [
    ("data", "error: data: a folder, not a params file; name a YAML file such as params.yaml"),
    ("/dev/zero", f"error: /dev/zero: more than {params.MAX_PARAMS_BYTES:,} bytes, too large for a params file"),
])
def test_score_with_a_params_path_that_is_no_params_file(copy, params_path, message):
    result = shell(f'echo 分开不分开 | "$CHARLM" score --params {params_path}', copy)
    assert one_error_line(result).startswith(message)


def test_generate_writes_each_line_when_all_is_well(copy):
    result = shell('"$CHARLM" generate 分开 不分开 --length 5 --seed 9223372036854775806', copy)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode().splitlines()
    assert [len(line) for line in lines] == [7, 8] and lines[0].startswith("分开")


# Numbers past what a tensor holds

@pytest.mark.parametrize("args, message", [
    (["--top-k", str(2**70)], "error: argument --top-k: must be at most 2,147,483,647, int32's largest"),
    (["--top-k", "4294967297"], "error: argument --top-k: must be at most 2,147,483,647, int32's largest"),
    (["--seed", str(2**70)], "error: argument --seed: must be at most 9,223,372,036,854,775,807, int64's largest"),
    (["--seed", "9223372036854775807"], "error: --seed 9223372036854775807: prefix 2 would draw from seed "
                                        "9,223,372,036,854,775,808, beyond the largest 64-bit seed "
                                        "(9,223,372,036,854,775,807); lower --seed to at most 9,223,372,036,854,775,806"),
    (["--temperature", "1e39"], "error: argument --temperature: must be at most 3.4e+38, float32's largest"),
])
def test_numbers_past_a_tensors_range_give_one_error_line(tmp_path, args, message):
    result = subprocess.run([CHARLM, "generate", "分开", "不分开", *args], cwd=tmp_path, capture_output=True, text=True)
    assert one_error_line(result).startswith(message)


@pytest.mark.parametrize("override, message", [
    ({"generate.top_k": 2**70}, "'generate.top_k' must be at most 2147483647, int32's largest"),
    ({"generate.top_k": 4294967297}, "'generate.top_k' must be at most 2147483647"),
    ({"generate.seed": 2**70}, "'generate.seed' must be at most 9223372036854775807, int64's largest"),
    ({"generate.seed": 2**63 - 1}, "'generate.seed' + the number of prefixes - 1 = 9223372036854775808 is beyond "
                                   "the largest 64-bit seed"),
    ({"generate.temperature": 1e39}, "'generate.temperature' must be at most 3.4e+38"),
    ({"train.hidden_size": 10**12}, "'train.hidden_size' must be at most 16384, the widest layer this code builds; "
                                    "got 1000000000000"),
    ({"train.embedding_dim": 10**5}, "'train.embedding_dim' must be at most 16384"),
    ({"train.num_layers": 10**6}, "'train.num_layers' must be at most 64"),
    ({"train.num_steps": 2**40}, "'train.num_steps' must be at most 10000"),
    ({"train.batch_size": 2**40}, "'train.batch_size' must be at most 65536"),
    ({"train.epochs": 10**12}, "'train.epochs' must be at most 100000"),
])
def test_params_past_what_the_code_honours(tmp_path, override, message):
    path = write_params(tmp_path / "params.yaml", override)
    with pytest.raises(UserError) as error:
        params.load(next(iter(override)).split(".")[0], path)
    assert message in str(error.value)


def test_the_largest_values_the_params_allow_are_accepted(tmp_path):
    path = write_params(tmp_path / "params.yaml", {"generate.top_k": 2**31 - 1, "generate.seed": 2**63 - 2,
                                                   "train.hidden_size": 16384, "train.epochs": 100_000})
    assert params.load("generate", path).seed == 2**63 - 2  # two prefixes: seeds 2**63 - 2 and 2**63 - 1
    assert params.load("train", path).hidden_size == 16384


def test_a_lone_surrogate_in_params_is_an_error(tmp_path):
    (tmp_path / "params.yaml").write_text(write_params(tmp_path / "p.yaml").read_text(encoding="utf-8")
                                          .replace("- 分开", '- "\\ud800"'), encoding="utf-8")
    with pytest.raises(UserError, match=r"'generate.prefixes' holds a lone surrogate"):
        params.load("generate", tmp_path / "params.yaml")


def test_the_largest_seed_and_top_k_reach_the_model(copy):
    """int64's largest seed and int32's largest top-k (the whole vocabulary) are honoured, not wrapped."""
    from charlm.continuation import continue_prefixes, load_generator
    from charlm.vocab import Vocabulary

    vocab = Vocabulary.from_json((copy / "data/processed/vocab.json").read_text(encoding="utf-8"))
    generator = load_generator(copy / "models", vocab)
    [[largest]] = continue_prefixes(generator, ["分开"], 8, 1.0, 2**31 - 1, 2**63 - 1)
    [[everything]] = continue_prefixes(generator, ["分开"], 8, 1.0, 0, 2**63 - 1)
    assert largest == everything  # K beyond the vocabulary keeps every character, as 0 does
    [[greedy_k1]] = continue_prefixes(generator, ["分开"], 8, 1.0, 1, 2**63 - 1)
    assert greedy_k1 == continue_prefixes(generator, ["分开"], 8)[0][0]  # top-1 is the greedy line
