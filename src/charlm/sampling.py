"""Continue a prefix one character at a time: greedily (the book) or sampled with temperature/top-k.

A compiled one-step function keeps the recurrent state between characters, so each new
character costs one step of the network. `<unk>` is never emitted.
"""

from dataclasses import dataclass

import numpy as np

from charlm.tf_runtime import tf
from charlm.vocab import UNK_ID, Vocabulary


@dataclass(frozen=True)
class Sampling:
    temperature: float | None = None  # None: greedy (argmax)
    top_k: int = 0                    # 0: the whole vocabulary
    seed: int = 0


GREEDY = Sampling()


class TextGenerator:
    def __init__(self, model, vocab: Vocabulary):
        self.model = model
        self.vocab = vocab
        self._step = tf.function(self._step_eager, jit_compile=True)

    def _step_eager(self, token, states):
        logits, states = self.model(tf.reshape(token, (1, 1)), states, training=False)
        return logits[0, 0], states

    def unknown_characters(self, prefix: str) -> list[str]:
        known = set(self.vocab.tokens)
        return sorted({ch for ch in prefix if ch not in known})

    def continue_text(self, prefix: str, length: int, sampling: Sampling = GREEDY) -> str:
        """Return `prefix` followed by `length` generated characters (unknown ones read as `<unk>`)."""
        ids = self.vocab.encode(prefix)
        rng = np.random.default_rng(sampling.seed)
        states = self.model.initial_states(1)
        for token in ids:
            logits, states = self._step(tf.constant(token, tf.int32), states)
        generated = []
        for _ in range(length):
            token = _choose(logits.numpy().astype(np.float64), sampling, rng)
            generated.append(token)
            logits, states = self._step(tf.constant(token, tf.int32), states)
        return prefix + self.vocab.decode(generated)


def _choose(logits: np.ndarray, sampling: Sampling, rng: np.random.Generator) -> int:
    logits[UNK_ID] = -np.inf
    if sampling.temperature is None:
        return int(np.argmax(logits))
    logits = logits / sampling.temperature
    if 0 < sampling.top_k < len(logits):
        cutoff = np.partition(logits, -sampling.top_k)[-sampling.top_k]
        logits = np.where(logits >= cutoff, logits, -np.inf)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    return int(rng.choice(len(probs), p=probs))
