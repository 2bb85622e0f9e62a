"""The character-level RNN language model (the book's GRU, plus LSTM and plain RNN), written to
and rebuilt from its files (charlm.model_files: a JSON config that records a hash of the
vocabulary it was trained with, and safetensors weights).
"""

from dataclasses import asdict
from pathlib import Path

import numpy as np
import safetensors.numpy

from charlm.gru import GRU
from charlm.io import write_bytes, write_json
from charlm.model_files import (CONFIG_FILE, WEIGHTS_FILE, ModelConfig, check_model_files, read_weights,
                                weight_layout)
from charlm.tf_runtime import keras, tf

KERAS_RNN_LAYERS = {"lstm": keras.layers.LSTM, "rnn": keras.layers.SimpleRNN}


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


def load_model(folder: str | Path, vocab_fingerprint: str, vocab_size: int | None = None) -> CharRNN:
    """Rebuild the model saved in `folder`, checking it was trained with this vocabulary (its
    fingerprint and, when given, its size). Both files are checked before anything is built."""
    config = check_model_files(folder, vocab_fingerprint, vocab_size)
    tensors = read_weights(folder, config)
    model = build_model(config)
    names = _weight_names(model)
    assert names == list(weight_layout(config)), "weight_layout disagrees with the model that build_model makes"
    set_weights(model, [tensors[n] for n in names])
    return model
