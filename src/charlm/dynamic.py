"""Dynamic evaluation of the network (Krause et al. 2018, "Dynamic Evaluation of Neural Sequence
Models"): the text is read in short segments; each is scored, then the weights take one gradient
step on it, and the recurrent state is carried on. So the model learns from the text as it reads
it, and a chorus that comes back is predicted by a model that has just seen it.

The step is a softened form of the paper's RMS-normalised one, with an optional decay back
toward the trained weights:

    w <- w - lr * grad / (rms + softening) + min(decay * rms, 1) * (w_trained - w)

where `rms` is the root mean square of each weight's gradient over the train part, scaled to a
mean of 1 over all weights. The paper divides by `rms` alone, so a weight that rarely moved in
training takes the largest steps; `softening` (dynamic.softening) bounds every step by
lr * grad / softening. The decay (dynamic.decay) is off by default: validation preferred none. A segment is scored before the step it causes, so no character is ever scored by
weights that have seen it.
"""

import contextlib
from typing import Callable

import numpy as np

from charlm.tf_runtime import graph_function, per_model, tf
from charlm.vocab import share_unk

RMS_STREAMS = 32     # the train part is read as this many parallel streams of RMS_WINDOW-character
RMS_WINDOW = 50      # windows to measure gradients: only their relative size matters, and longer is faster
RMS_MAX_CHARS = 64_000   # a bounded sample of the train part (streams spread over it), so the cost of
                         # measuring does not grow with the corpus: about what the lyrics' train part
                         # costs, which (56,954 characters) is read whole
# Segments per compiled call of a reading: a long text is read in several calls (each compiled
# shape once), so that its progress can be told and a call never grows with the text.
CHUNK_SEGMENTS = 2048


class DynamicEvaluator:
    """Scores a text with the model adapting to it; `model`'s weights are restored after each text
    (or, inside `adapting()`, after the block, so that what was learnt can be used)."""

    def __init__(self, model, unk_share: int, segment: int, lr: float, decay: float, softening: float = 1.0):
        self.model, self.unk_share, self.segment = model, unk_share, segment
        self.lr, self.decay, self.softening = lr, decay, softening
        self.variables = model.trainable_variables
        self.rms = None  # measured on the train part by `measure_gradients`
        # The settings are arguments and the weights the model's own, so every evaluator of one
        # model runs the same compiled functions, traced and compiled once per model and shape:
        # they use the model and its variables, nothing else of the evaluator that made them.
        self._read = per_model(model, "dynamic_read", lambda: graph_function(self._read_eager, jit_compile=True))

    def _segment_loss(self, inputs, targets, mask, states):
        logits, states = self.model(inputs, states, training=False)
        all_log_probs = tf.nn.log_softmax(logits)
        log_probs = tf.gather(all_log_probs, targets, batch_dims=2)
        # How sure the network was before it saw each target: a cue for mixing it with the n-gram.
        entropy = -tf.reduce_sum(tf.exp(all_log_probs) * all_log_probs, axis=-1)
        return -tf.reduce_sum(log_probs * mask) / tf.reduce_sum(mask), (log_probs, entropy), states

    def _gradients(self, inputs, targets, mask, states):
        with tf.GradientTape() as tape:
            loss, outputs, states = self._segment_loss(inputs, targets, mask, states)
        gradients = [tf.convert_to_tensor(g) for g in tape.gradient(loss, self.variables)]
        return gradients, outputs, states

    def measure_gradients(self, train_ids: np.ndarray, max_chars: int = RMS_MAX_CHARS) -> None:
        """The RMS of each weight's gradient over segments of the train part (at most about
        `max_chars` characters of it, in streams spread over the whole), scaled to mean 1."""
        window = min(RMS_WINDOW, len(train_ids) - 1)
        streams = min(RMS_STREAMS, max(1, (len(train_ids) - 1) // window))
        inputs, targets = _as_windows(train_ids, streams, window, max_windows=max(1, max_chars // (streams * window)))
        squared_gradients = per_model(self.model, "dynamic_squared_gradients",
                                      lambda: graph_function(self._squared_gradients, jit_compile=True))
        squares = squared_gradients(inputs, targets)
        rms = [tf.sqrt(s) for s in squares]
        mean = tf.add_n([tf.reduce_sum(r) for r in rms]) / sum(int(tf.size(r)) for r in rms)
        self.rms = [r / mean for r in rms]

    def _squared_gradients(self, inputs, targets):
        def body(step, states, sums):
            mask = tf.ones_like(inputs[step], tf.float32)
            gradients, _, states = self._gradients(inputs[step], targets[step], mask, states)
            return step + 1, states, [s + g * g for s, g in zip(sums, gradients)]

        count = tf.shape(inputs)[0]
        start = (0, self.model.initial_states(tf.shape(inputs)[1]), [tf.zeros_like(v) for v in self.variables])
        sums = tf.while_loop(lambda step, *_: step < count, body, start)[2]
        return [s / tf.cast(count, tf.float32) for s in sums]

    def _read_eager(self, inputs, targets, mask, states, trained, rms, lr, decay, softening):
        """Read the segments inputs[i] in order, the weights stepping after each, from `states`;
        `trained` is what the decay pulls back toward. Returns the scores, the entropies and the
        states it ends with, so that a long text is read in several calls as it is in one."""
        def body(step, states, scores, entropies):
            gradients, (log_probs, entropy), states = self._gradients(inputs[step], targets[step], mask[step], states)
            for variable, gradient, start, r in zip(self.variables, gradients, trained, rms):
                pull = tf.minimum(decay * r, 1.0)
                variable.assign(variable - lr * gradient / (r + softening) + pull * (start - variable))
            return step + 1, states, scores.write(step, log_probs[0]), entropies.write(step, entropy[0])

        count = tf.shape(inputs)[0]
        arrays = [tf.TensorArray(tf.float32, size=count) for _ in range(2)]
        _, states, scores, entropies = tf.while_loop(lambda step, *_: step < count, body, (0, states, *arrays))
        return tf.reshape(scores.stack(), [-1]), tf.reshape(entropies.stack(), [-1]), states

    def target_log_probs(self, ids: np.ndarray) -> np.ndarray:
        """Natural-log probability of ids[1:], each given the ids before it, with the weights
        adapted on every segment before the one it is in (float64, on the fixed class set)."""
        return self.read(ids)[0]

    def read(self, ids: np.ndarray, advance: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """`target_log_probs`, and the entropy (nats) of each predicted distribution."""
        with self.adapting():
            return self.adapt(ids, advance)

    @contextlib.contextmanager
    def adapting(self):
        """Within the block, `adapt` leaves the weights adapted; they are restored after it."""
        saved = [v.numpy() for v in self.variables]
        try:
            yield self
        finally:
            for variable, value in zip(self.variables, saved):
                variable.assign(value)

    def adapt(self, ids: np.ndarray, advance: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Read `ids` as `read` does, but leave the weights as the text has adapted them. A long
        text is read in compiled calls of CHUNK_SEGMENTS segments each, the state and weights
        carried from one to the next (the same figures as one call), telling `advance` (if given)
        after each how many characters have been scored."""
        if self.rms is None:
            raise RuntimeError("call measure_gradients(train_ids) first")
        n = len(ids) - 1
        if n < 1:
            return np.zeros(0), np.zeros(0)
        n_segments = -(-n // self.segment)
        padded = np.zeros(n_segments * self.segment + 1, dtype=np.int32)
        padded[:n + 1] = ids
        mask = (np.arange(n_segments * self.segment) < n).astype(np.float32)
        shape = (n_segments, 1, self.segment)
        inputs, targets, mask = padded[:-1].reshape(shape), padded[1:].reshape(shape), mask.reshape(shape)
        trained = [tf.identity(v) for v in self.variables]  # what the decay pulls back toward
        settings = [tf.constant(value, tf.float32) for value in (self.lr, self.decay, self.softening)]
        states, scores, entropies = self.model.initial_states(1), [], []
        for start in range(0, n_segments, CHUNK_SEGMENTS):
            chunk = slice(start, start + CHUNK_SEGMENTS)
            log_probs, entropy, states = self._read(inputs[chunk], targets[chunk], mask[chunk], states, trained,
                                                    self.rms, *settings)
            scores.append(log_probs.numpy())
            entropies.append(entropy.numpy())
            if advance:
                advance(min((start + CHUNK_SEGMENTS) * self.segment, n))
        log_probs = share_unk(np.concatenate(scores)[:n].astype(np.float64), ids[1:], self.unk_share)
        return log_probs, np.concatenate(entropies)[:n].astype(np.float64)


def _as_windows(ids: np.ndarray, streams: int, length: int,
                max_windows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The text as `streams` contiguous streams cut into windows: [windows, streams, length].
    With more than `max_windows` windows per stream, each stream keeps its first `max_windows`,
    the streams' starts spread evenly over the text."""
    windows = (len(ids) - 1) // (streams * length)
    spacing = windows * length  # streams laid end to end over the text
    if max_windows is not None and windows > max_windows:
        windows, spacing = max_windows, (len(ids) - 1) // streams
    positions = (np.arange(streams) * spacing)[:, None] + np.arange(windows * length)
    ids = np.asarray(ids, np.int32)
    inputs = ids[positions].reshape(streams, windows, length).transpose(1, 0, 2)
    targets = ids[positions + 1].reshape(streams, windows, length).transpose(1, 0, 2)
    return np.ascontiguousarray(inputs), np.ascontiguousarray(targets)
