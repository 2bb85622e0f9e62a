"""The `charlm` command without a trained model: help, argument errors, and no TensorFlow for either;
`charlm generate`'s sampling controls and --stream on a tiny untrained model (tests/tiny_model.py).
Its behaviour on a trained model is tested on the tiny pipeline (tests/test_pipeline.py)."""

import subprocess
import sys
from pathlib import Path

import pytest

from charlm.command import build_parser
from tiny_model import make_working_copy

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
    (["generate", "分开", "--top-p", "0"], "error: argument --top-p: must be a number > 0 and <= 1 (1: off), got 0"),
    (["generate", "分开", "--top-p", "1.5"], "error: argument --top-p: must be a number > 0 and <= 1 (1: off), got 1.5"),
    (["generate", "分开", "--top-p", "nan"], "error: argument --top-p: must be a finite number, got nan"),
    (["generate", "分开", "--min-p", "2"], "error: argument --min-p: must be a number from 0 to 1 (0: off), got 2"),
    (["generate", "分开", "--min-p", "x"], "error: argument --min-p: must be a number, got 'x'"),
    (["generate", "分开", "--repetition-penalty", "0.5"], "error: argument --repetition-penalty: must be a number "
                                                          ">= 1 (1: off), got 0.5"),
    (["generate", "分开", "--repetition-penalty", "1e31"], "error: argument --repetition-penalty: must be at most "
                                                           "1e+30, the largest whose penalised scores stay finite"),
    (["generate", "分开", "--repetition-window", "-1"], "error: argument --repetition-window: must be an integer "
                                                        "from 0 to 11,000, got -1"),
    (["generate", "分开", "--repetition-penalty", "1.2", "--repetition-window", "0"],
     "error: --repetition-penalty 1.2 needs --repetition-window"),
    (["generate", "分开", "--greedy", "--repetition-penalty", "1.2"],  # greedy's window is 0 unless given
     "error: --repetition-penalty 1.2 needs --repetition-window"),
    (["generate", "分开", "--stream", "--num-samples", "2"], "error: --stream prints one continuation per prefix"),
    (["generate", "分开", "--greedy", "--top-p", "0.5"], "error: --top-p and --min-p choose among sampled characters"),
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


# What `charlm generate 分开 不分开 --length 30` printed for the tiny working copy before the sampling
# controls existed (recorded on an AMD EPYC), when its default sampler was temperature 0.8, top-k 10.
BEFORE_THE_CONTROLS = "分开宇信命让不甜在甜这天一和和蜜你想我化里著化想融每化想始一去宇\n" \
                      "不分开融相分在在信到爱天你去融要命爱的和开和和著化样始在的想融飞你\n"
CONTROLS_OFF = ["--top-p", "1", "--min-p", "0", "--repetition-penalty", "1", "--repetition-window", "0"]


@pytest.fixture(scope="module")
def working_copy(tmp_path_factory):
    return make_working_copy(tmp_path_factory.mktemp("generate") / "copy")


def test_with_the_controls_off_generate_prints_what_it_printed_before_they_existed_streamed(working_copy):
    # Streamed: the same characters as unstreamed (tests/test_generation.py, with the controls on and
    # off; and below, through the command, with them on).
    before = ["--temperature", "0.8", "--top-k", "10"]
    streamed = charlm("generate", "分开", "不分开", "--length", "30", "--stream", *before, *CONTROLS_OFF,
                      cwd=working_copy)
    assert streamed.returncode == 0, streamed.stderr
    assert streamed.stdout == BEFORE_THE_CONTROLS


def test_the_sampling_controls_change_the_text_and_stream_the_same_characters(working_copy):
    controls = ["--top-p", "0.5", "--min-p", "0.9", "--repetition-penalty", "1e6", "--repetition-window", "8"]
    whole = charlm("generate", "分开", "不分开", "--length", "30", *controls, cwd=working_copy)
    assert whole.returncode == 0, whole.stderr
    lines = whole.stdout.splitlines()
    assert len(lines) == 2 and whole.stdout != BEFORE_THE_CONTROLS
    for prefix, line in zip(["分开", "不分开"], lines):
        assert line.startswith(prefix) and len(line) == len(prefix) + 30
        assert not any(line[i] in line[max(0, i - 8):i] for i in range(len(prefix), len(line)))  # the penalty
    assert charlm("generate", "分开", "不分开", "--length", "30", "--stream", *controls,
                  cwd=working_copy).stdout == whole.stdout
