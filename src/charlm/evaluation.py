"""Perplexity on a fixed class set: every train character plus one class for unseen ones.

A split is read as one stream, the state carried from window to window, so every character
after the first is scored given all the characters before it in that split. `<unk>`'s
probability is shared evenly among the classes it stands for (the train characters folded into
it, and the unseen class), which keeps perplexities comparable across vocabulary settings.
"""

from typing import Callable

import numpy as np

from charlm.tf_runtime import graph_function, tf
from charlm.vocab import share_unk

SCORE_WINDOW = 256  # characters per compiled call; only speed depends on it, never the result


class Scorer:
    """Log-probabilities of each character of a text given the ones before it."""

    def __init__(self, model, unk_share: int):
        self.model = model
        self.unk_share = unk_share
        self._score_window = graph_function(self._score_window_eager, jit_compile=True)

    def _score_window_eager(self, inputs, targets, states):
        logits, states = self.model(inputs, states, training=False)
        log_probs = tf.nn.log_softmax(logits)
        return tf.gather(log_probs, targets, batch_dims=2), states

    def target_log_probs(self, ids: np.ndarray, advance: Callable[[int], None] | None = None) -> np.ndarray:
        """Natural-log probability of ids[1:], each given the ids before it (float64); `advance`,
        if given, is told after each window how many characters have been scored."""
        n = len(ids) - 1
        if n < 1:
            return np.zeros(0)
        n_windows = -(-n // SCORE_WINDOW)
        padded = np.zeros(n_windows * SCORE_WINDOW + 1, dtype=np.int32)
        padded[:n + 1] = ids
        inputs = padded[:-1].reshape(n_windows, 1, SCORE_WINDOW)
        targets = padded[1:].reshape(n_windows, 1, SCORE_WINDOW)
        states = self.model.initial_states(1)
        scores = []
        for window in range(n_windows):  # padding comes last, so it never changes a real score
            log_probs, states = self._score_window(inputs[window], targets[window], states)
            scores.append(log_probs.numpy()[0])
            if advance:
                advance(min((window + 1) * SCORE_WINDOW, n))
        log_probs = np.concatenate(scores)[:n].astype(np.float64)
        return share_unk(log_probs, ids[1:], self.unk_share)


def perplexity(log_probs: np.ndarray) -> float | None:
    """exp of the mean negative log-likelihood; None for an empty split."""
    if len(log_probs) == 0:
        return None
    return float(np.exp(-np.mean(log_probs)))
