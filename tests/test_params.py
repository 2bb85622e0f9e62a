import dataclasses

import pytest

from charlm import params
from charlm.errors import UserError
from conftest import ROOT, write_params


def test_loads_each_section_as_frozen_dataclass(params_file):
    train = params.load("train", params_file)
    assert train.hidden_size == 16 and train.lr == 0.01
    with pytest.raises(dataclasses.FrozenInstanceError):
        train.lr = 1.0
    assert params.load("generate", params_file).prefixes == ["分开", "不分开"]


def test_integer_accepted_where_a_number_is_expected(tmp_path):
    p = params.load("train", write_params(tmp_path / "p.yaml", {"train.lr": 1}))
    assert p.lr == 1.0 and isinstance(p.lr, float)


@pytest.mark.parametrize("override, message", [
    ({"train.hidden_size": 0}, "'train.hidden_size' must be >= 1, got 0"),
    ({"train.lr": -0.1}, "'train.lr' must be > 0.0"),
    ({"train.epochs": "ten"}, "'train.epochs' must be an integer, got 'ten'"),
    ({"train.random_offset": 1}, "'train.random_offset' must be true or false"),
    ({"train.num_steps": True}, "'train.num_steps' must be an integer"),
    ({"train.cell": "transformer"}, "'train.cell' must be one of gru, lstm, rnn"),
    ({"vocab.valid_fraction": 1.0}, "'vocab.valid_fraction' must be >= 0.0 and < 1.0"),
    ({"vocab.valid_fraction": 0.6, "vocab.test_fraction": 0.5}, "must be < 1 so that the train part is not empty"),
    ({"generate.temperature": 0}, "'generate.temperature' must be >= 0.01"),
    ({"generate.temperature": 1.0e-308}, "'generate.temperature' must be >= 0.01, got 1e-308"),
    ({"train.seed": 2**32}, "'train.seed' must be >= 0 and <= 4294967295, got 4294967296"),
    ({"generate.top_k": -1}, "'generate.top_k' must be >= 0"),
    ({"generate.num_samples": 0}, "'generate.num_samples' must be >= 1 and <= 1024"),
    ({"generate.length": 10**6}, "'generate.length' must be >= 1 and <= 10000"),
    ({"generate.prefixes": [""]}, "must hold non-empty strings"),
    ({"generate.prefixes": []}, "'generate.prefixes' is empty"),
    ({"generate.top_p": 0}, "'generate.top_p' must be > 0.0 and <= 1.0, got 0.0"),
    ({"generate.top_p": 1.5}, "'generate.top_p' must be > 0.0 and <= 1.0, got 1.5"),
    ({"generate.min_p": -0.1}, "'generate.min_p' must be >= 0.0 and <= 1.0, got -0.1"),
    ({"generate.repetition_penalty": 0.9}, "'generate.repetition_penalty' must be >= 1.0, got 0.9"),
    ({"generate.repetition_penalty": 1e31, "generate.repetition_window": 8},
     "'generate.repetition_penalty' must be at most 1e+30, the largest whose penalised scores stay finite"),
    ({"generate.repetition_window": -1}, "'generate.repetition_window' must be >= 0 and <= 11000, got -1"),
    ({"generate.repetition_penalty": 1.2, "generate.repetition_window": 0}, "'generate.repetition_window' is 0, which turns the penalty off"),
])
def test_rejects_bad_values_naming_the_key(tmp_path, override, message):
    path = write_params(tmp_path / "p.yaml", override)
    section = next(iter(override)).split(".")[0]
    with pytest.raises(UserError, match=None) as error:
        params.load(section, path)
    assert message in str(error.value)


def test_the_sampling_controls_load_on_and_off(tmp_path, params_file):
    off = params.load("generate", write_params(tmp_path / "off.yaml", {
        f"generate.{key}": value for key, value in params.NEUTRAL_CONTROLS.items()}))
    assert (off.top_p, off.min_p, off.repetition_penalty, off.repetition_window) == (1.0, 0.0, 1.0, 0)
    on = params.load("generate", write_params(tmp_path / "on.yaml", {
        "generate.top_p": 0.9, "generate.min_p": 0.05, "generate.repetition_penalty": 1.3,
        "generate.repetition_window": 64}))
    assert (on.top_p, on.min_p, on.repetition_penalty, on.repetition_window) == (0.9, 0.05, 1.3, 64)


def test_the_pipelines_sampler_is_the_commands_default():
    # One sampler, chosen once (benchmarks/sampling_sweep.py): params.yaml and `charlm generate`.
    generate = params.load("generate", ROOT / "params.yaml")
    assert {key: getattr(generate, key) for key in params.SAMPLER_DEFAULTS} == params.SAMPLER_DEFAULTS


def test_unknown_key_suggests_the_closest(tmp_path):
    path = write_params(tmp_path / "p.yaml", {"train.learning_rate": 0.1})
    with pytest.raises(UserError, match=r"unknown key 'train.learning_rate'; did you mean 'train.lr"):
        params.load("train", path)
    path = write_params(tmp_path / "q.yaml", {"train.hiden_size": 8})
    with pytest.raises(UserError, match=r"did you mean 'train.hidden_size'"):
        params.load("train", path)


def test_missing_file_section_and_key(tmp_path):
    with pytest.raises(UserError, match="params file not found"):
        params.load("train", tmp_path / "nope.yaml")
    (tmp_path / "p.yaml").write_text("unzip: {path: a.txt, member: a, newlines_to_spaces: true, max_chars: null}\n")
    with pytest.raises(UserError, match="section 'train' is missing"):
        params.load("train", tmp_path / "p.yaml")
    (tmp_path / "q.yaml").write_text("unzip: {path: a.txt, member: a, newlines_to_spaces: true}\n")
    with pytest.raises(UserError, match="missing key 'unzip.max_chars'"):
        params.load("unzip", tmp_path / "q.yaml")


def test_malformed_yaml_names_the_line(tmp_path):
    (tmp_path / "p.yaml").write_text("unzip:\n  member: a\n  newlines_to_spaces: [true\n")
    with pytest.raises(UserError, match=r"malformed YAML at line \d+"):
        params.load("unzip", tmp_path / "p.yaml")


def test_tied_embeddings_need_an_embedding_as_wide_as_the_state(tmp_path):
    path = write_params(tmp_path / "p.yaml", {"train.tie_embeddings": True, "train.embedding_dim": 8})
    with pytest.raises(UserError, match="'train.tie_embeddings' needs train.input: embedding and train.embedding_dim"):
        params.load("train", path)
    path = write_params(tmp_path / "q.yaml", {"train.tie_embeddings": True})  # 16 and 16
    assert params.load("train", path).tie_embeddings
