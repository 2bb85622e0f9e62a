"""Linear interpolation of two language models, the weight fit on held-out text (the RNNLM recipe)."""

from typing import Callable

import numpy as np


def fit_weight(log_probs_a: np.ndarray, log_probs_b: np.ndarray, iterations: int = 200) -> float:
    """The weight w in [0, 1] that maximises the likelihood of w * P_a + (1 - w) * P_b.

    Expectation-maximisation: the likelihood is concave in w, so this climbs to the optimum.
    """
    if len(log_probs_a) == 0:
        raise ValueError("no held-out text to fit the weight on")
    pa, pb = np.exp(log_probs_a), np.exp(log_probs_b)
    weight = 0.5
    for _ in range(iterations):
        weight = float(np.mean(weight * pa / (weight * pa + (1 - weight) * pb)))
    return weight


def mix(log_probs_a: np.ndarray, log_probs_b: np.ndarray, weight: float) -> np.ndarray:
    # A weight of exactly 0 or 1 (a fit rounded for the metrics) is one model alone: log 0 = -inf is right.
    with np.errstate(divide="ignore"):
        return np.logaddexp(np.log(weight) + log_probs_a, np.log1p(-weight) + log_probs_b)


COUNT_BUCKETS = 7     # how often the longest context was seen: 1, 2-3, 4-7, ... 64 or more
ENTROPY_BUCKETS = 8   # the network's entropy in whole nats: 0, 1, ... 7 or more
GRADIENT_MEMORY = 0.999  # the mixer's running mean of squared gradients forgets this slowly
PROGRESS_EVERY = 4096    # characters between two calls of the online mixer's `advance`


def context_features(contexts: np.ndarray, order: int, entropies: np.ndarray) -> np.ndarray:
    """What the mixing weights may depend on, all known before the character is read: from the
    adaptive n-gram's `longest_context` of each history (length, total, types), a one-hot of how
    long a context has been seen before, how often (log-scale buckets) and whether it was always
    followed by one character; and a one-hot of how sure the network was (its entropy)."""
    length, total, types = (contexts[:, i] for i in range(3))
    seen = (length > 0)[:, None]
    count_bucket = np.minimum(np.floor(np.log2(np.maximum(total, 1))), COUNT_BUCKETS - 1)
    entropy_bucket = np.minimum(np.floor(entropies), ENTROPY_BUCKETS - 1)
    return np.column_stack([length[:, None] == np.arange(order),
                            seen & (count_bucket[:, None] == np.arange(COUNT_BUCKETS)),
                            seen[:, 0] & (types == 1),
                            entropy_bucket[:, None] == np.arange(ENTROPY_BUCKETS)]).astype(np.float64)


class OnlineMixer:
    """sum_k w_k P_k with weights w = softmax(theta . features), theta learnt while reading: after
    each character, one step up the gradient of its log-likelihood, scaled per weight by the
    running RMS of its gradients (as context mixing in compressors learns its weights). Each
    character is mixed with the theta learnt from the characters before it only."""

    def __init__(self, n_models: int, n_features: int, lr: float):
        self.theta = np.zeros((n_models, n_features))
        self.squares = np.zeros_like(self.theta)
        self.steps = 0
        self.lr = lr

    def mix(self, log_probs: list[np.ndarray], features: np.ndarray,
            advance: Callable[[int], None] | None = None) -> np.ndarray:
        """The mixture of each character's probabilities; `advance`, if given, hears how far it is."""
        probs = np.exp(np.column_stack(log_probs))
        mixed = np.empty(len(probs))
        for t in range(len(probs)):
            if advance and not t % PROGRESS_EVERY:
                advance(t)
            z = self.theta @ features[t]
            weights = np.exp(z - z.max())
            weights /= weights.sum()
            p = weights @ probs[t]
            mixed[t] = np.log(p)
            gradient = np.outer(weights * (probs[t] / p - 1), features[t])
            self.steps += 1
            self.squares = GRADIENT_MEMORY * self.squares + (1 - GRADIENT_MEMORY) * gradient * gradient
            rms = np.sqrt(self.squares / (1 - GRADIENT_MEMORY ** self.steps))  # bias-corrected, as Adam
            self.theta += self.lr * np.divide(gradient, rms, out=np.zeros_like(gradient), where=rms > 0)
        return mixed
