"""Score a text under every model on the fixed class set: the one code path of the evaluate stage
and `charlm score`.

`log_probs` returns one array per model (natural-log probability of each character after the
first, given those before it), keyed by model name, so a new model (an adaptive one, say) is one
more entry; `with_mixture` adds the network/n-gram mixture at a given weight.
"""

from pathlib import Path

import numpy as np

from charlm.evaluation import Scorer, perplexity
from charlm.interpolation import mix
from charlm.model import load_model
from charlm.ngram import KneserNey
from charlm.vocab import Vocabulary


class ScoringModels:
    """The trained network and the Kneser-Ney n-gram counted on the train part's classes."""

    def __init__(self, model_dir: str | Path, vocab: Vocabulary, train_classes: np.ndarray,
                 ngram_order: int, ngram_discount: float):
        self.vocab = vocab
        self.network = Scorer(load_model(model_dir, vocab.fingerprint()), vocab.unk_share)
        # The n-gram counts over the unfolded class set, so vocab.min_count never weakens the baseline.
        self.ngram = KneserNey(train_classes, vocab.class_count, ngram_order, ngram_discount)
        self._classes = vocab.class_vocabulary()

    def encode(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The network's ids and the n-gram's class ids of `text`, as the vocab stage writes them."""
        return self.vocab.encode(text), self._classes.encode(text)

    def log_probs(self, ids: np.ndarray, class_ids: np.ndarray) -> dict[str, np.ndarray]:
        return {"network": self.network.target_log_probs(ids), "ngram": self.ngram.target_log_probs(class_ids)}


def with_mixture(log_probs: dict[str, np.ndarray], network_weight: float) -> dict[str, np.ndarray]:
    """`log_probs` plus "mixture": network_weight * P_network + (1 - network_weight) * P_ngram."""
    return {**log_probs, "mixture": mix(log_probs["network"], log_probs["ngram"], network_weight)}


def perplexities(log_probs: dict[str, np.ndarray]) -> dict[str, float | None]:
    """Each model's perplexity, rounded to 4 decimals as metrics/eval.json stores it."""
    return {name: _round(perplexity(values)) for name, values in log_probs.items()}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
