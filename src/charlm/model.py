"""The character-level RNN language model (the book's GRU, plus LSTM and plain RNN) and its files.

Weights are stored with safetensors (no pickle, no timestamps: equal weights give equal bytes)
beside a JSON config that rebuilds the model and records a hash of the vocabulary it was
trained with.
"""

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import safetensors.numpy

from charlm import params
from charlm.errors import UserError
from charlm.gru import GRU
from charlm.io import write_bytes, write_json
from charlm.tf_runtime import keras, tf

KERAS_RNN_LAYERS = {"lstm": keras.layers.LSTM, "rnn": keras.layers.SimpleRNN}
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


class CharRNN(keras.Model):
    """Input (one-hot or embedding) -> stacked recurrent layers -> Dense logits.

    `call` takes and returns the recurrent states explicitly (a flat list, `states_per_layer`
    tensors per layer), so the caller carries them from window to window.
    """

    def __init__(self, config: ModelConfig):
        # Fixed layer names keep weight names the same in every process (Keras numbers defaults).
        super().__init__(name="char_rnn")
        self.config = config
        self.embedding = (keras.layers.Embedding(config.vocab_size, config.embedding_dim, name="embedding")
                          if config.input == "embedding" else None)
        self.rnns = [_recurrent_layer(config, f"{config.cell}_{i}", i == 0) for i in range(config.num_layers)]
        self.dropout = keras.layers.Dropout(config.dropout, name="dropout")
        if config.tie_embeddings:  # logits = h E^T + b: one matrix for input and output
            self.head = None
            self.output_bias = self.add_weight(shape=(config.vocab_size,), initializer="zeros", name="output_bias")
        else:
            self.head = keras.layers.Dense(config.vocab_size, name="logits")

    def call(self, ids, states, training=False):
        k = self.config.states_per_layer
        new_states = []
        for i, rnn in enumerate(self.rnns):
            layer_states = list(states[i * k:(i + 1) * k])
            if i == 0 and self._reads_ids:
                # Dropout on a one-hot input keeps or drops its one non-zero entry: one draw per character.
                keep = self.dropout(tf.ones(tf.concat([tf.shape(ids), [1]], 0)), training=training) if training and self.config.dropout else None
                x, *layer_states = rnn(ids, initial_state=layer_states, training=training, input_scale=keep)
            else:
                if i == 0:
                    x = self.dropout(self._input_vectors(ids), training=training)
                x, *layer_states = rnn(x, initial_state=layer_states, training=training)
            new_states.extend(layer_states)
            x = self.dropout(x, training=training)
        return self._logits(x), new_states

    def step(self, ids, states):
        """One character per row at inference, ids [batch] -> logits [batch, vocab] and states: the
        same function as `call` on windows of one, without the time loop (generation runs this)."""
        if self.config.cell != "gru":  # Keras's layers have no one-step call
            logits, states = self(ids[:, None], states, training=False)
            return logits[:, 0], states
        x = ids if self._reads_ids else self._input_vectors(ids)
        new_states = []
        for rnn, h in zip(self.rnns, states, strict=True):
            x = rnn.step(rnn.project(x), h)
            new_states.append(x)
        return self._logits(x), new_states

    @property
    def _reads_ids(self) -> bool:
        """Our GRU takes one-hot input as ids and looks up rows of its kernel."""
        return self.config.input == "one_hot" and self.config.cell == "gru"

    def _input_vectors(self, ids):
        return self.embedding(ids) if self.embedding is not None else tf.one_hot(ids, self.config.vocab_size)

    def _logits(self, x):
        if self.head is None:  # a sublayer's weight is not cast to the compute dtype outside it
            logits = tf.matmul(x, tf.cast(self.embedding.embeddings, x.dtype), transpose_b=True) + self.output_bias
        else:
            logits = self.head(x)
        return tf.cast(logits, tf.float32)  # under bf16 mixed precision, the loss and scores stay fp32

    def initial_states(self, batch_size: int):
        n = self.config.num_layers * self.config.states_per_layer
        # The compute dtype: float32, or bfloat16 under mixed precision (measured by benchmarks/run.py).
        return [tf.zeros((batch_size, self.config.hidden_size), self.compute_dtype) for _ in range(n)]


def _recurrent_layer(config: ModelConfig, name: str, first: bool):
    """The book's GRU is our own layer, built for speed (charlm.gru); LSTM and plain RNN are Keras's."""
    if config.cell == "gru":
        vocab_size = config.vocab_size if first and config.input == "one_hot" else None
        return GRU(config.hidden_size, recurrent_dropout=config.recurrent_dropout, vocab_size=vocab_size, name=name)
    return KERAS_RNN_LAYERS[config.cell](config.hidden_size, return_sequences=True, return_state=True,
                                         recurrent_dropout=config.recurrent_dropout, name=name)


def build_model(config: ModelConfig) -> CharRNN:
    model = CharRNN(config)
    model(tf.zeros((1, 1), tf.int32), model.initial_states(1))  # create the variables
    return model


def _weight_names(model: CharRNN) -> list[str]:
    # The position keeps names unique and the order fixed; the path makes the file readable.
    return [f"{i:03d}/{v.path}" for i, v in enumerate(model.weights)]


def get_weights(model: CharRNN) -> list[np.ndarray]:
    return [v.numpy() for v in model.weights]


def set_weights(model: CharRNN, arrays: list[np.ndarray]) -> None:
    for variable, array in zip(model.weights, arrays, strict=True):
        variable.assign(array)


def save_model(model: CharRNN, folder: str | Path, weights: list[np.ndarray] | None = None) -> None:
    """Write the weights (the model's own unless `weights` is given) and the config into `folder`."""
    folder = Path(folder)
    weights = get_weights(model) if weights is None else weights
    tensors = {name: np.array(w, order="C") for name, w in zip(_weight_names(model), weights, strict=True)}
    write_bytes(folder / WEIGHTS_FILE, safetensors.numpy.save(tensors))
    write_json(folder / CONFIG_FILE, asdict(model.config))


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


def read_weights(path: Path, config: ModelConfig, config_path: Path) -> dict[str, np.ndarray]:
    """The weights file, checked against `config` from its header (names, shapes, float32) before
    its tensors are read, then for finite values."""
    retrain = "rerun `dvc repro --force train`"
    expected = weight_layout(config)
    try:
        with safetensors.safe_open(str(path), framework="numpy") as f:
            header = {name: (tuple(f.get_slice(name).get_shape()), f.get_slice(name).get_dtype()) for name in f.keys()}
    except Exception as e:  # safetensors raises its own error type for truncated or corrupt files
        raise UserError(f"{path}: unreadable weights ({e}); {retrain}") from None
    shapes = {name: shape for name, (shape, _) in header.items()}
    if shapes != expected:
        name = next((n for n in expected if shapes.get(n) != expected[n]), None) or next(n for n in shapes if n not in expected)
        found = f"shape {shapes[name]}" if name in shapes else "nothing"
        wanted = f"shape {expected[name]}" if name in expected else "no such weight"
        raise UserError(f"{path}: the weights do not match {config_path} ({name}: {found} where the config "
                        f"needs {wanted}); {retrain}")
    not_float = next((name for name, (_, dtype) in header.items() if dtype != "F32"), None)
    if not_float:
        raise UserError(f"{path}: {not_float} holds {header[not_float][1]} values, not float32 weights; {retrain}")
    try:
        tensors = safetensors.numpy.load_file(str(path))
    except Exception as e:
        raise UserError(f"{path}: unreadable weights ({e}); {retrain}") from None
    not_finite = next((name for name in expected if not np.isfinite(tensors[name]).all()), None)
    if not_finite:
        raise UserError(f"{path}: {not_finite} holds NaN or infinite values, which no trained model has; {retrain}")
    return tensors


def load_model(folder: str | Path, vocab_fingerprint: str, vocab_size: int | None = None) -> CharRNN:
    """Rebuild the model saved in `folder`, checking it was trained with this vocabulary (its
    fingerprint and, when given, its size). Both files are checked before anything is built."""
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
    tensors = read_weights(weights_path, config, config_path)
    model = build_model(config)
    names = _weight_names(model)
    assert names == list(weight_layout(config)), "weight_layout disagrees with the model that build_model makes"
    set_weights(model, [tensors[n] for n in names])
    return model
