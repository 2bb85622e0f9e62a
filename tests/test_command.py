"""The `charlm` command without a trained model: help, argument errors, and no TensorFlow for either.
Its behaviour on a trained model is tested on the tiny pipeline (tests/test_pipeline.py)."""

import subprocess
import sys
from pathlib import Path

import pytest

from charlm.command import build_parser

CHARLM = str(Path(sys.executable).parent / "charlm")


def charlm(*args: str, cwd=None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([CHARLM, *args], cwd=cwd, input=stdin, capture_output=True, text=True)


def test_the_installed_command_lists_generate_and_score():
    result = charlm("--help")
    assert result.returncode == 0
    assert "generate" in result.stdout and "score" in result.stdout


@pytest.mark.parametrize("command", ["generate", "score"])
def test_each_subcommand_help_documents_every_option(command):
    result = charlm(command, "--help")
    assert result.returncode == 0
    parser = build_parser()
    [subparsers] = [a for a in parser._actions if a.dest == "command"]
    for action in subparsers.choices[command]._actions:
        assert action.help, f"{command}: {action.option_strings or action.dest} has no help"
        for option in action.option_strings:
            assert option in result.stdout


@pytest.mark.parametrize("args", [["--help"], ["generate", "--help"], ["score", "--help"], ["generate", "x", "--length", "0"]])
def test_help_and_argument_errors_never_import_tensorflow(args):
    check = (f"import sys\nfrom charlm.command import main\n"
             f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
             f"assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported TensorFlow'\n")
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("args, message", [
    ([], "error: the following arguments are required: COMMAND; see `charlm --help`"),
    (["train"], "error: argument COMMAND: invalid choice: 'train'"),
    (["generate"], "error: the following arguments are required: PREFIX"),
    (["generate", "分开", "--length", "0"], "error: argument --length: must be an integer from 1 to 10,000, got 0"),
    (["generate", "分开", "--length", "ten"], "error: argument --length: must be an integer, got 'ten'"),
    (["generate", "分开", "--temperature", "0"], "error: argument --temperature: must be a number > 0, got 0"),
    (["generate", "分开", "--temperature", "nan"], "error: argument --temperature: must be a number > 0, got nan"),
    (["generate", "分开", "--top-k", "-1"], "error: argument --top-k: must be an integer >= 0, got -1"),
    (["generate", "分开", "--greedy", "--temperature", "1"], "error: argument --temperature: not allowed with "
                                                             "argument --greedy"),
    (["generate", "分开", "--greedy", "--num-samples", "3"], "error: --greedy gives one continuation per prefix"),
    (["generate", ""], "error: a prefix must have 1 to 1,000 characters; got 0"),
    (["score", "--newlines", "tabs"], "error: argument --newlines: invalid choice: 'tabs'"),
    (["score", "absent.txt"], "error: absent.txt: file not found"),
])
def test_bad_arguments_give_one_error_line(tmp_path, args, message):
    result = charlm(*args, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr
    assert result.stdout == ""


def test_missing_model_and_unreadable_text_give_one_error_line(tmp_path, params_file):
    result = charlm("generate", "分开", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["error: data/processed/vocab.json: not found; run `dvc repro vocab` first"]
    (tmp_path / "latin1.txt").write_bytes("café au lait".encode("latin-1"))
    result = charlm("score", "latin1.txt", cwd=tmp_path)
    assert result.stderr.splitlines() == ["error: latin1.txt: not UTF-8 text (invalid byte at offset 3); "
                                          "convert it to UTF-8"]
    result = charlm("score", cwd=tmp_path, stdin="x")
    assert result.stderr.splitlines() == ["error: standard input: 1 character(s); scoring needs at least 2 "
                                          "(the first is context only)"]
