"""Linear interpolation of two language models, the weight fit on held-out text (the RNNLM recipe)."""

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
