"""Adaptive evaluation: the n-gram, the network and their mixture learn from the held-out text
while they read it, beside the static figures.

The validation and test parts are read as one stream, validation first, so that the test part
follows on from the text before it as it does in the corpus (on a large corpus each part may be
cut to its first characters, evaluate.adaptive_max_chars: the test part then follows the
validation part's first ones). Every character is scored before
any model learns from it; the figures score the same characters as the static ones (each part
after its first character).
"""

from dataclasses import dataclass

import numpy as np

from charlm.dynamic import DynamicEvaluator
from charlm.interpolation import OnlineMixer, context_features, fit_weight, mix
from charlm.ngram import KneserNey
from charlm.progress import QUIET, Progress, Quiet
from charlm.spelling import Spelling


@dataclass(frozen=True)
class AdaptiveSettings:
    ngram_order: int
    ngram_discount: float
    local_ngram_order: int
    dynamic_segment: int
    dynamic_lr: float
    dynamic_decay: float
    dynamic_softening: float
    mixer_lr: float

    @classmethod
    def from_params(cls, evaluate, dynamic) -> "AdaptiveSettings":
        """From the `evaluate` and `dynamic` params sections (charlm.params)."""
        return cls(evaluate.adaptive_ngram_order, evaluate.adaptive_ngram_discount, evaluate.local_ngram_order,
                   dynamic.segment, dynamic.lr, dynamic.decay, dynamic.softening, evaluate.mixer_lr)


def held_out_stream(valid: np.ndarray, test: np.ndarray) -> np.ndarray:
    return np.concatenate([valid, test]).astype(np.int32)


def split_scores(log_probs: np.ndarray, n_valid: int) -> dict[str, np.ndarray]:
    """Cut the stream's scores (log_probs[i] scores character i + 1) back into the parts' own
    characters after their first: the first test character is read, as in the static figures,
    not scored."""
    if n_valid == 0:
        return {"valid": log_probs[:0], "test": log_probs}
    return {"valid": log_probs[:n_valid - 1], "test": log_probs[n_valid:]}


class AdaptiveModels:
    """The trained network and the n-gram counts of the train part, ready to read a text adaptively."""

    def __init__(self, model, unk_share: int, class_count: int, train_ids: np.ndarray, train_classes: np.ndarray,
                 settings: AdaptiveSettings, counted: KneserNey | None = None):
        """`counted`: an n-gram already counted on `train_classes` (the static one), whose counts
        the adaptive n-gram shares when their orders agree instead of counting the train part again."""
        self.class_count, self.train_classes, self.settings = class_count, train_classes, settings
        self.counted = counted if counted is not None and counted.order == settings.ngram_order else None
        self.dynamic = DynamicEvaluator(model, unk_share, settings.dynamic_segment, settings.dynamic_lr,
                                        settings.dynamic_decay, settings.dynamic_softening)
        self.dynamic.measure_gradients(train_ids)

    def read(self, ids: np.ndarray, class_ids: np.ndarray, progress: Progress | Quiet = QUIET) -> dict[str, np.ndarray]:
        """Per model, the log-probability of each character after the first of one text (the
        network's ids and the n-gram's class ids of it), every model learning as it reads and
        starting afresh from the trained state: "network" (dynamic evaluation), "ngram" (train
        counts updated as it reads), "local_ngram" (counts of this text read so far alone: what
        this song has said), and "mixture" (the three, weights learnt online). Each is a pass over
        the text, a step of `progress`."""
        s = self.settings
        ngram = (self.counted.with_discount(s.ngram_discount) if self.counted is not None else
                 KneserNey(self.train_classes, self.class_count, s.ngram_order, s.ngram_discount))
        with progress.step("adaptive ngram") as advance:
            counting, contexts = ngram.read(class_ids, adapt=True, with_contexts=True, advance=advance)
        local = KneserNey(class_ids[:0], self.class_count, s.local_ngram_order, s.ngram_discount)
        with progress.step("adaptive local_ngram") as advance:
            local_counting = local.target_log_probs(class_ids, adapt=True, advance=advance)
        with progress.step("adaptive network") as advance:
            network, entropies = self.dynamic.read(ids, advance)
        features = context_features(contexts, s.ngram_order, entropies)
        experts = [network, counting, local_counting]
        with progress.step("adaptive mixture") as advance:
            mixed = OnlineMixer(len(experts), features.shape[1], s.mixer_lr).mix(experts, features, advance)
        return {"network": network, "ngram": counting, "local_ngram": local_counting, "mixture": mixed}


def first_characters(parts: dict, limit: int | None) -> dict:
    """The validation and test parts (texts or arrays) cut to their first `limit` characters
    (None: whole): what an adaptive reading of a large held-out text is bounded to
    (evaluate.adaptive_max_chars)."""
    return {s: parts[s][:limit] for s in ("valid", "test")}


def held_out_log_probs(models: AdaptiveModels, ids: dict, classes: dict,
                       progress: Progress | Quiet = QUIET) -> dict[str, dict[str, np.ndarray]]:
    """Per model, the adaptive log-probabilities of the validation and test characters, the two
    parts read as one stream; plus "fixed_mixture" (network and n-gram, one weight fit on
    validation, as the static mixture). To bound the reading, pass the parts cut by
    `first_characters`: the test part then follows the validation part's first characters."""
    n_valid = len(ids["valid"])
    stream = models.read(held_out_stream(ids["valid"], ids["test"]), held_out_stream(classes["valid"], classes["test"]),
                         progress)
    scores = {name: split_scores(values, n_valid) for name, values in stream.items()}
    if n_valid > 1:
        weight = fit_weight(scores["network"]["valid"], scores["ngram"]["valid"])
        scores["fixed_mixture"] = {s: mix(scores["network"][s], scores["ngram"][s], weight) for s in ("valid", "test")}
    return scores


def held_out_spelling_costs(spelling: Spelling, texts: dict[str, str], unseen: dict) -> dict[str, np.ndarray]:
    """Nats to spell out each scored validation and test character that the class set cannot name
    (`unseen` marks them, per part), the two parts read as one stream as `held_out_log_probs` reads
    them, the cache of unseen characters learning from what it has read."""
    stream = spelling.adaptive_costs(texts["valid"] + texts["test"], held_out_stream(unseen["valid"], unseen["test"]))
    return split_scores(stream, len(texts["valid"]))
