"""Score a text under every model on the fixed class set: the one code path of the evaluate stage
and `charlm score`.

`log_probs` returns one array per model (natural-log probability of each character after the
first, given those before it), keyed by model name, so a new model (an adaptive one, say) is one
more entry; `with_mixture` adds the network/n-gram mixture at a given weight, and `with_spelling`
turns the figures into open-vocabulary ones (charlm.spelling).
"""

from pathlib import Path

import numpy as np

from charlm.adaptive import first_characters, held_out_spelling_costs
from charlm.evaluation import Scorer, perplexity
from charlm.interpolation import mix
from charlm.model import load_model
from charlm.ngram import KneserNey
from charlm.progress import QUIET, Progress, Quiet
from charlm.spelling import Spelling, bits_per_character
from charlm.vocab import UNK_ID, Vocabulary


# The most characters of the train part scored for `perplexity.train` (its start, read as one stream).
TRAIN_SCORE_LIMIT = 1_000_001


class ScoringModels:
    """The trained network and the Kneser-Ney n-gram counted on the train part's classes."""

    def __init__(self, model_dir: str | Path, vocab: Vocabulary, train_classes: np.ndarray,
                 ngram_order: int, ngram_discount: float):
        self.vocab = vocab
        self.network = Scorer(load_model(model_dir, vocab.fingerprint(), vocab.size), vocab.unk_share)
        # The n-gram counts over the unfolded class set, so vocab.min_count never weakens the baseline.
        self.ngram = KneserNey(train_classes, vocab.class_count, ngram_order, ngram_discount)
        self._classes = vocab.class_vocabulary()

    def encode(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The network's ids and the n-gram's class ids of `text`, as the vocab stage writes them."""
        return self.vocab.encode(text), self._classes.encode(text)

    def log_probs(self, ids: np.ndarray, class_ids: np.ndarray, progress: Progress | Quiet = QUIET) -> dict[str, np.ndarray]:
        """Each model's pass over the text, a step of `progress`."""
        with progress.step("network") as advance:
            network = self.network.target_log_probs(ids, advance)
        with progress.step("ngram"):  # whole arrays at a time: no progress within it
            ngram = self.ngram.target_log_probs(class_ids)
        return {"network": network, "ngram": ngram}


def with_mixture(log_probs: dict[str, np.ndarray], network_weight: float) -> dict[str, np.ndarray]:
    """`log_probs` plus "mixture": network_weight * P_network + (1 - network_weight) * P_ngram."""
    return {**log_probs, "mixture": mix(log_probs["network"], log_probs["ngram"], network_weight)}


def with_spelling(log_probs: dict[str, np.ndarray], spelling_costs: np.ndarray) -> dict[str, np.ndarray]:
    """Each model's log-probabilities on open-vocabulary terms: a character the class set cannot
    name costs its class (the unseen one) plus the nats to spell out which character it was,
    the same for every model (`Spelling.static_costs` or `adaptive_costs` of the scored text)."""
    return {name: values - spelling_costs for name, values in log_probs.items()}


def open_vocabulary_figures(static: dict[str, dict], adaptive: dict[str, dict], spelling: Spelling,
                            texts: dict[str, str], classes: dict[str, np.ndarray],
                            adaptive_limit: int | None = None) -> dict:
    """metrics/eval.json's "open_vocabulary" section: the static figures (`static[part][model]`,
    log-probabilities of the validation and test parts) and the adaptive ones
    (`adaptive[model][part]`, as `adaptive.held_out_log_probs` gives them) with every character
    that the class set cannot name (class id UNK_ID in `classes`, per part) also spelled out;
    beside them how many scored characters that is and what spelling one cost on average, in bits.
    The adaptive figures read each part's first `adaptive_limit` characters (None: all), as
    `adaptive` was read (charlm.adaptive.first_characters)."""
    parts = ("valid", "test")
    unseen = {s: np.asarray(classes[s]) == UNK_ID for s in parts}
    read = first_characters(unseen, adaptive_limit)
    costs = {"static": {s: spelling.static_costs(texts[s], unseen[s]) for s in parts},
             "adaptive": held_out_spelling_costs(spelling, first_characters(texts, adaptive_limit), read)}
    scored_unseen = {"static": {s: unseen[s][1:] for s in parts}, "adaptive": {s: read[s][1:] for s in parts}}
    figures = {"unseen": {s: int(np.count_nonzero(scored_unseen["static"][s])) for s in parts},
               "spelling_bits": {how: {s: _round(bits_per_character(by_part[s], scored_unseen[how][s])) for s in parts}
                                 for how, by_part in costs.items()}}
    static = {s: perplexities(with_spelling(static[s], costs["static"][s])) for s in parts}
    for key, name in (("perplexity", "network"), ("ngram", "ngram"), ("mixture", "mixture")):
        if name in static["valid"]:
            figures[key] = {s: static[s][name] for s in parts}
    figures["adaptive"] = {name: {s: _round(perplexity(by_part[s] - costs["adaptive"][s])) for s in parts}
                           for name, by_part in adaptive.items()}
    return figures


def perplexities(log_probs: dict[str, np.ndarray]) -> dict[str, float | None]:
    """Each model's perplexity, rounded to 4 decimals as metrics/eval.json stores it."""
    return {name: _round(perplexity(values)) for name, values in log_probs.items()}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
