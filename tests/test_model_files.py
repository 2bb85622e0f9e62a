"""Model files the code did not write: a config.json, vocab.json or weights file edited by hand,
truncated or from elsewhere is refused with the file to regenerate, before anything is built
from it. The files are written by the library, then tampered with by the test."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from charlm.errors import UserError
from charlm.model import CONFIG_FILE, WEIGHTS_FILE, ModelConfig, build_model, load_model, weight_layout
from charlm.vocab import Vocabulary, build_vocabulary, read_vocabulary
from conftest import VERSE
from tiny_model import make_working_copy

CHARLM = str(Path(sys.executable).parent / "charlm")
RETRAIN = "rerun `dvc repro --force train`"
REVOCAB = "rerun `dvc repro --force vocab`"


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    return make_working_copy(tmp_path_factory.mktemp("model_files") / "copy")


@pytest.fixture
def copy(original, tmp_path):
    return Path(shutil.copytree(original, tmp_path / "copy"))


def _vocab(copy) -> Vocabulary:
    return read_vocabulary(copy / "data/processed/vocab.json")


def _load(copy):
    vocab = _vocab(copy)
    return load_model(copy / "models", vocab.fingerprint(), vocab.size)


def _edit_config(copy, **changes):
    path = copy / "models" / CONFIG_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("input, tie", [("one_hot", False), ("embedding", False), ("embedding", True)])
@pytest.mark.parametrize("layers", [1, 2])
def test_the_weight_layout_is_the_built_models(cell, input, tie, layers):
    config = ModelConfig(vocab_size=11, input=input, embedding_dim=6, cell=cell, hidden_size=6 if tie else 5,
                         num_layers=layers, dropout=0.0, recurrent_dropout=0.0, tie_embeddings=tie,
                         vocab_fingerprint="x")
    model = build_model(config)
    built = {f"{i:03d}/{v.path}": tuple(v.shape) for i, v in enumerate(model.weights)}
    assert list(built.items()) == list(weight_layout(config).items())


@pytest.mark.parametrize("changes, message", [
    ({"cell": "transformer"}, "'cell' must be one of gru, lstm, rnn; got 'transformer'"),
    ({"input": "bytes"}, "'input' must be one of one_hot, embedding; got 'bytes'"),
    ({"dropout": "0.5"}, "'dropout' must be a number, got '0.5'"),
    ({"hidden_size": 0}, "'hidden_size' must be >= 1, got 0"),
    ({"hidden_size": -8}, "'hidden_size' must be >= 1, got -8"),
    ({"hidden_size": 8.0}, "'hidden_size' must be an integer, got 8.0"),
    ({"hidden_size": "8"}, "'hidden_size' must be an integer, got '8'"),
    ({"hidden_size": 10**9}, "'hidden_size' must be at most 16384"),
    ({"num_layers": 0}, "'num_layers' must be >= 1, got 0"),
    ({"num_layers": 10**6}, "'num_layers' must be at most 64"),
    ({"vocab_size": 10**9}, "'vocab_size' must be an integer from 2 to 1,114,113"),
    ({"tie_embeddings": "yes"}, "'tie_embeddings' must be true or false"),
    ({"tie_embeddings": True, "embedding_dim": 4}, "'tie_embeddings' needs input embedding and embedding_dim equal to hidden_size"),
    ({"vocab_fingerprint": 7}, "'vocab_fingerprint' must be a string"),
    ({"layers": 2}, "a model config holds the keys vocab_size, input"),
])
def test_a_config_out_of_range_is_refused_before_building(copy, changes, message):
    _edit_config(copy, **changes)
    with pytest.raises(UserError) as error:
        _load(copy)
    assert str(error.value).startswith(str(copy / "models" / CONFIG_FILE) + ": ")
    assert message in str(error.value) and str(error.value).endswith(RETRAIN)


@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\r\n\x1a\n\xff\xfe", "unreadable model config"),
    (b"[1, 2]", "a model config holds the keys vocab_size"),
    (b"{\"cell\": ", "unreadable model config"),
])
def test_a_config_that_is_not_one(copy, content, message):
    (copy / "models" / CONFIG_FILE).write_bytes(content)
    with pytest.raises(UserError, match=message) as error:
        _load(copy)
    assert str(error.value).endswith(RETRAIN)


@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\r\n\x1a\n\xff\xfe", "not UTF-8 text (invalid byte at offset 0)"),
    (b"[\"<unk>\", \"a\"]", "expected an object with the keys 'tokens' and 'folded' alone, got list"),
    (b"tokens: [a, b]", "Expecting value"),
    (b"{\"tokens\": [\"<unk>\", \"a\"]}", "expected an object with the keys 'tokens' and 'folded' alone, got keys 'tokens'"),
    (b"{\"tokens\": \"<unk>ab\", \"folded\": []}", "'tokens' must be a list, got str"),
    (b"{\"tokens\": [\"a\", \"b\"], \"folded\": []}", "'tokens' must begin with '<unk>'"),
    (b"{\"tokens\": [\"<unk>\", \"ab\"], \"folded\": []}", "'tokens' must hold single characters, got 'ab'"),
    (b"{\"tokens\": [\"<unk>\", \"b\", \"a\"], \"folded\": []}", "'tokens' must be sorted, each character once"),
    (b"{\"tokens\": [\"<unk>\", \"a\"], \"folded\": [\"a\"]}", "a character is both in 'tokens' and in 'folded'"),
])
def test_a_vocabulary_that_the_vocab_stage_did_not_write(copy, content, message):
    path = copy / "data/processed/vocab.json"
    path.write_bytes(content)
    with pytest.raises(UserError) as error:
        read_vocabulary(path)
    assert str(error.value).startswith(f"{path}: ") and message in str(error.value)
    assert str(error.value).endswith(REVOCAB)


def test_a_vocabulary_smaller_than_the_models_outputs(copy):
    """A vocabulary of fewer tokens than the model has outputs (its fingerprint copied into the
    config, so that only the sizes disagree) would decode an id past its end."""
    small = build_vocabulary(VERSE[:10])
    (copy / "data/processed/vocab.json").write_text(small.to_json(), encoding="utf-8")
    _edit_config(copy, vocab_fingerprint=small.fingerprint())
    outputs = json.loads((copy / "models" / CONFIG_FILE).read_text())["vocab_size"]
    with pytest.raises(UserError, match=rf"the model has {outputs} outputs but the vocabulary holds {small.size} "
                                        rf"tokens; rerun `dvc repro train` \(or `dvc repro --force vocab`"):
        _load(copy)


def _rewrite_weights(copy, change):
    path = copy / "models" / WEIGHTS_FILE
    tensors = safetensors.numpy.load_file(str(path))
    path.write_bytes(safetensors.numpy.save({name: change(name, array) for name, array in tensors.items()}))


def test_weights_of_the_right_shapes_but_integers(copy):
    _rewrite_weights(copy, lambda name, array: array.astype(np.int32))
    with pytest.raises(UserError, match=r"weights.safetensors: 000/char_rnn/embedding/embeddings holds I32 values, "
                                        r"not float32 weights; rerun `dvc repro --force train`"):
        _load(copy)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_weights_that_are_not_finite(copy, value):
    def poison(name, array):
        if "recurrent_kernel" in name:
            array = array.copy()
            array.flat[3] = value
        return array

    _rewrite_weights(copy, poison)
    with pytest.raises(UserError, match=r"002/char_rnn/gru_0/recurrent_kernel holds NaN or infinite values"):
        _load(copy)


def test_weights_of_other_shapes_than_the_config_are_refused_from_the_header(copy):
    # A config made 16,384 wide would build 3 GB of weights: the file's header is checked first.
    _edit_config(copy, hidden_size=16384)
    with pytest.raises(UserError, match=r"the weights do not match .*config.json \(001/char_rnn/gru_0/kernel: shape "
                                        r"\(8, 24\) where the config needs shape \(8, 49152\)\)"):
        _load(copy)


def test_weights_with_a_tensor_too_many(copy):
    _rewrite_weights(copy, lambda name, array: array)
    path = copy / "models" / WEIGHTS_FILE
    tensors = safetensors.numpy.load_file(str(path))
    path.write_bytes(safetensors.numpy.save({**tensors, "999/extra": np.zeros(3, np.float32)}))
    with pytest.raises(UserError, match=r"\(999/extra: shape \(3,\) where the config needs no such weight\)"):
        _load(copy)


def test_the_command_gives_one_line_naming_the_file_to_regenerate(copy):
    (copy / "data/processed/vocab.json").write_text("[]")
    result = subprocess.run([CHARLM, "generate", "分开"], cwd=copy, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: data/processed/vocab.json: not a vocabulary the vocab stage wrote (expected an object with the keys "
        "'tokens' and 'folded' alone, got list); rerun `dvc repro --force vocab`"]


def test_the_command_refuses_an_edited_config_in_one_line(copy):
    _edit_config(copy, cell="transformer")
    result = subprocess.run([CHARLM, "generate", "分开"], cwd=copy, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: models/config.json: 'cell' must be one of gru, lstm, rnn; got 'transformer'; it is not what "
        "`dvc repro train` writes: rerun `dvc repro --force train`"]
