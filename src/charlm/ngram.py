"""An interpolated Kneser-Ney character n-gram model: the counting baseline the network must beat.

Chen & Goodman's interpolated Kneser-Ney with one absolute discount D for every order. The
highest order uses raw counts; lower orders use continuation counts (how many distinct
characters precede an n-gram; the start of the text counts as one). Order 0 is uniform over the
vocabulary, so `<unk>` and every unseen continuation keep some probability. Plain Python and
NumPy: no TensorFlow.
"""

from collections import Counter, defaultdict

import numpy as np

_START = -1  # stands for "no character before this one" when counting left contexts


class KneserNey:
    def __init__(self, ids: np.ndarray, vocab_size: int, order: int, discount: float):
        if not 0 < discount < 1:
            raise ValueError("discount must lie in (0, 1)")
        self.order, self.discount, self.vocab_size = order, discount, vocab_size
        seq = [int(i) for i in ids]
        # counts[n][ngram]: raw counts for the highest order, continuation counts below it.
        self.counts: list[Counter] = [Counter() for _ in range(order + 1)]
        left_contexts: list[defaultdict] = [defaultdict(set) for _ in range(order)]
        for i in range(len(seq)):
            if i + 1 >= order:
                self.counts[order][tuple(seq[i + 1 - order:i + 1])] += 1
            for n in range(1, min(order - 1, i + 1) + 1):
                left_contexts[n][tuple(seq[i + 1 - n:i + 1])].add(seq[i - n] if i >= n else _START)
        for n in range(1, order):
            self.counts[n] = Counter({gram: len(before) for gram, before in left_contexts[n].items()})
        # Per history: the total of its counts and how many distinct characters follow it.
        self.totals: list[Counter] = [Counter() for _ in range(order + 1)]
        self.types: list[Counter] = [Counter() for _ in range(order + 1)]
        for n in range(1, order + 1):
            for gram, count in self.counts[n].items():
                self.totals[n][gram[:-1]] += count
                self.types[n][gram[:-1]] += 1

    def prob(self, history: tuple[int, ...], token: int) -> float:
        """P(token | the last order-1 characters of history)."""
        history = tuple(history[-(self.order - 1):]) if self.order > 1 else ()
        return self._prob(history, token, len(history) + 1)

    def _prob(self, history: tuple[int, ...], token: int, n: int) -> float:
        if n == 0:
            return 1.0 / self.vocab_size
        lower = self._prob(history[1:], token, n - 1)
        total = self.totals[n].get(history, 0)
        if total == 0:
            return lower
        count = self.counts[n].get(history + (token,), 0)
        return (max(count - self.discount, 0.0) + self.discount * self.types[n][history] * lower) / total

    def target_log_probs(self, ids: np.ndarray) -> np.ndarray:
        """Natural-log probability of ids[1:], each given the characters before it in `ids`."""
        seq = [int(i) for i in ids]
        context = self.order - 1
        return np.array([np.log(self.prob(tuple(seq[max(0, t - context):t]), seq[t])) for t in range(1, len(seq))])
