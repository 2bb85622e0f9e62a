"""Adaptive evaluation: the n-gram, the network and their mixture learn from the held-out text
while they read it, beside the static figures.

The validation and test parts are read as one stream, validation first, so that the test part
follows on from the text before it as it does in the corpus. Every character is scored before
any model learns from it; the figures score the same characters as the static ones (each part
after its first character).
"""

from dataclasses import dataclass

import numpy as np

from charlm.dynamic import DynamicEvaluator
from charlm.interpolation import OnlineMixer, context_features, fit_weight, mix
from charlm.ngram import KneserNey


@dataclass(frozen=True)
class AdaptiveSettings:
    ngram_order: int
    ngram_discount: float
    local_ngram_order: int
    dynamic_segment: int
    dynamic_lr: float
    dynamic_decay: float
    mixer_lr: float


def held_out_stream(valid: np.ndarray, test: np.ndarray) -> np.ndarray:
    return np.concatenate([valid, test]).astype(np.int32)


def split_scores(log_probs: np.ndarray, n_valid: int) -> dict[str, np.ndarray]:
    """Cut the stream's scores (log_probs[i] scores character i + 1) back into the parts' own
    characters after their first: the first test character is read, as in the static figures,
    not scored."""
    if n_valid == 0:
        return {"valid": log_probs[:0], "test": log_probs}
    return {"valid": log_probs[:n_valid - 1], "test": log_probs[n_valid:]}


def adaptive_log_probs(model, unk_share: int, class_count: int, ids: dict, classes: dict,
                       settings: AdaptiveSettings) -> dict[str, dict[str, np.ndarray]]:
    """Per model, the log-probabilities of the validation and test characters on the fixed class
    set, read adaptively: "network" (dynamic evaluation), "ngram" (train counts updated as it
    reads), "local_ngram" (counts of the held-out text read so far alone: what this song has
    said), "mixture" (the three, weights learnt online) and "fixed_mixture" (network and n-gram,
    one weight fit on validation)."""
    n_valid = len(ids["valid"])
    stream = held_out_stream(classes["valid"], classes["test"])
    ngram = KneserNey(classes["train"], class_count, settings.ngram_order, settings.ngram_discount)
    counting, contexts = ngram.read(stream, adapt=True, with_contexts=True)
    local = KneserNey(stream[:0], class_count, settings.local_ngram_order, settings.ngram_discount)
    local_counting = local.target_log_probs(stream, adapt=True)
    dynamic = DynamicEvaluator(model, unk_share, settings.dynamic_segment, settings.dynamic_lr,
                               settings.dynamic_decay)
    dynamic.measure_gradients(ids["train"])
    network, entropies = dynamic.read(held_out_stream(ids["valid"], ids["test"]))
    features = context_features(contexts, settings.ngram_order, entropies)
    experts = [network, counting, local_counting]
    mixed = OnlineMixer(len(experts), features.shape[1], settings.mixer_lr).mix(experts, features)
    scores = {"network": split_scores(network, n_valid), "ngram": split_scores(counting, n_valid),
              "local_ngram": split_scores(local_counting, n_valid), "mixture": split_scores(mixed, n_valid)}
    if n_valid > 1:  # the fixed-weight mixture, its weight fit on validation as the static one
        weight = fit_weight(scores["network"]["valid"], scores["ngram"]["valid"])
        scores["fixed_mixture"] = {s: mix(scores["network"][s], scores["ngram"][s], weight) for s in ("valid", "test")}
    return scores
