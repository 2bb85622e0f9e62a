"""A trained model's files, read and checked without TensorFlow: `config.json` (a `ModelConfig`)
and `weights.safetensors` (no pickle, no timestamps: equal weights give equal bytes), which
charlm.model writes and rebuilds the network from. Everything here is checked before memory is
spent on building anything, and before TensorFlow starts."""

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy

from charlm import params
from charlm.errors import UserError

RETRAIN = "rerun `dvc repro --force train`"
WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "config.json"
MAX_VOCAB_SIZE = 0x110000 + 1  # <unk> and every Unicode code point


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int
    input: str            # "one_hot" (the book) or "embedding"
    embedding_dim: int    # used only with "embedding"
    cell: str             # "gru", "lstm" or "rnn"
    hidden_size: int
    num_layers: int
    dropout: float        # on the inputs, between layers and on the outputs, while training
    recurrent_dropout: float  # on the recurrent state, while training
    tie_embeddings: bool  # the output layer reuses the input embedding (needs embedding_dim == hidden_size)
    vocab_fingerprint: str

    @classmethod
    def for_training(cls, params, vocab) -> "ModelConfig":
        """The model that `train` params describe, over `vocab` (a charlm.vocab.Vocabulary)."""
        return cls(vocab_size=vocab.size, input=params.input, embedding_dim=params.embedding_dim, cell=params.cell,
                   hidden_size=params.hidden_size, num_layers=params.num_layers, dropout=params.dropout,
                   recurrent_dropout=params.recurrent_dropout, tie_embeddings=params.tie_embeddings,
                   vocab_fingerprint=vocab.fingerprint())

    @property
    def states_per_layer(self) -> int:
        return 2 if self.cell == "lstm" else 1


def weight_layout(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The name and shape of every weight that `build_model(config)` creates, in its order, worked
    out without building anything (tests/test_model_files.py checks it against the built model),
    so that a weights file can be checked against a config before memory is spent on either."""
    v, e, h, cell = config.vocab_size, config.embedding_dim, config.hidden_size, config.cell
    gates = {"gru": 3, "lstm": 4, "rnn": 1}[cell]
    cell_path = {"gru": "", "lstm": "lstm_cell/", "rnn": "simple_rnn_cell/"}[cell]
    layout = []
    if config.tie_embeddings:
        layout.append(("output_bias", (v,)))
    if config.input == "embedding":
        layout.append(("embedding/embeddings", (v, e)))
    for i in range(config.num_layers):
        inputs = h if i else (e if config.input == "embedding" else v)
        path = f"{cell}_{i}/{cell_path}"
        layout += [(f"{path}kernel", (inputs, gates * h)), (f"{path}recurrent_kernel", (h, gates * h)),
                   (f"{path}bias", (2, gates * h) if cell == "gru" else (gates * h,))]
    if not config.tie_embeddings:
        layout += [("logits/kernel", (h, v)), ("logits/bias", (v,))]
    return {f"{i:03d}/char_rnn/{name}": shape for i, (name, shape) in enumerate(layout)}


def read_config(path: Path) -> ModelConfig:
    """config.json as the train stage wrote it: every field of the right type and in the range
    that `train` params allow, so that nothing unbounded is built from a file edited by hand."""
    retrain = "; it is not what `dvc repro train` writes: rerun `dvc repro --force train`"
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:  # not JSON, or not UTF-8
        raise UserError(f"{path}: unreadable model config ({e}){retrain}") from None
    names = [f.name for f in fields(ModelConfig)]
    if not isinstance(values, dict) or sorted(values) != sorted(names):
        got = f"keys {', '.join(map(repr, values))}" if isinstance(values, dict) else type(values).__name__
        raise UserError(f"{path}: a model config holds the keys {', '.join(names)}; got {got}{retrain}")
    try:
        checked = {name: params.check_field(params.TrainParams, name, values[name], path)
                   for name in names if name not in ("vocab_size", "vocab_fingerprint")}
    except UserError as e:
        raise UserError(f"{e}{retrain}") from None
    vocab_size, fingerprint = values["vocab_size"], values["vocab_fingerprint"]
    if not (isinstance(vocab_size, int) and not isinstance(vocab_size, bool) and 2 <= vocab_size <= MAX_VOCAB_SIZE):
        raise UserError(f"{path}: 'vocab_size' must be an integer from 2 to {MAX_VOCAB_SIZE:,} (<unk> and every "
                        f"Unicode character), got {vocab_size!r}{retrain}")
    if not isinstance(fingerprint, str):
        raise UserError(f"{path}: 'vocab_fingerprint' must be a string, got {fingerprint!r}{retrain}")
    config = ModelConfig(vocab_size=vocab_size, vocab_fingerprint=fingerprint, **checked)
    if config.tie_embeddings and (config.input != "embedding" or config.embedding_dim != config.hidden_size):
        raise UserError(f"{path}: 'tie_embeddings' needs input embedding and embedding_dim equal to hidden_size; "
                        f"got {config.input}, {config.embedding_dim} and {config.hidden_size}{retrain}")
    return config


def check_weights_header(path: Path, config: ModelConfig, config_path: Path) -> None:
    """The weights file's header against `config`: every name and shape, float32, read without
    reading a tensor."""
    expected = weight_layout(config)
    try:
        with safetensors.safe_open(str(path), framework="numpy") as f:
            header = {name: (tuple(f.get_slice(name).get_shape()), f.get_slice(name).get_dtype()) for name in f.keys()}
    except Exception as e:  # safetensors raises its own error type for truncated or corrupt files
        raise UserError(f"{path}: unreadable weights ({e}); {RETRAIN}") from None
    shapes = {name: shape for name, (shape, _) in header.items()}
    if shapes != expected:
        name = next((n for n in expected if shapes.get(n) != expected[n]), None) or next(n for n in shapes if n not in expected)
        found = f"shape {shapes[name]}" if name in shapes else "nothing"
        wanted = f"shape {expected[name]}" if name in expected else "no such weight"
        raise UserError(f"{path}: the weights do not match {config_path} ({name}: {found} where the config "
                        f"needs {wanted}); {RETRAIN}")
    not_float = next((name for name, (_, dtype) in header.items() if dtype != "F32"), None)
    if not_float:
        raise UserError(f"{path}: {not_float} holds {header[not_float][1]} values, not float32 weights; {RETRAIN}")


def check_model_files(folder: str | Path, vocab_fingerprint: str, vocab_size: int | None = None) -> ModelConfig:
    """The model's config, once both files are found and checked against each other and against
    this vocabulary (its fingerprint and, when given, its size), without reading a tensor. Entry
    points call it before importing TensorFlow, so that a missing, foreign or damaged model stops
    in a fraction of a second rather than after seconds of start-up."""
    folder = Path(folder)
    config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    for path in (config_path, weights_path):
        if not path.is_file():
            raise UserError(f"{path}: model file not found; run `dvc repro train` first")
    config = read_config(config_path)
    if config.vocab_fingerprint != vocab_fingerprint:
        raise UserError(f"{folder}: the model was trained with another vocabulary "
                        f"({config.vocab_fingerprint} != {vocab_fingerprint}); rerun `dvc repro train`")
    # Equal fingerprints and unequal sizes: one of the files was edited by hand.
    if vocab_size is not None and config.vocab_size != vocab_size:
        raise UserError(f"{config_path}: the model has {config.vocab_size:,} outputs but the vocabulary holds "
                        f"{vocab_size:,} tokens; rerun `dvc repro train` (or `dvc repro --force vocab` if "
                        f"vocab.json was edited)")
    check_weights_header(weights_path, config, config_path)
    return config


def read_weights(folder: str | Path, config: ModelConfig) -> dict[str, np.ndarray]:
    """The tensors of a weights file that `check_model_files` has checked, each finite."""
    path = Path(folder) / WEIGHTS_FILE
    try:
        tensors = safetensors.numpy.load_file(str(path))
    except Exception as e:
        raise UserError(f"{path}: unreadable weights ({e}); {RETRAIN}") from None
    not_finite = next((name for name in weight_layout(config) if not np.isfinite(tensors[name]).all()), None)
    if not_finite:
        raise UserError(f"{path}: {not_finite} holds NaN or infinite values, which no trained model has; {RETRAIN}")
    return tensors
