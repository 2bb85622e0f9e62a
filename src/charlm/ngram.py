"""An interpolated Kneser-Ney character n-gram model: the counting baseline the network must beat,
static or adaptive (its counts updated with each character right after it is scored).

Chen & Goodman's interpolated Kneser-Ney with one absolute discount D for every order. The
highest order uses raw counts; lower orders use continuation counts (how many distinct
characters precede an n-gram; the start of a text counts as one). Order 0 is uniform over the
vocabulary, so `<unk>` and every unseen continuation keep some probability. Plain Python and
NumPy: no TensorFlow.

Counting is incremental: the model is built by adding the train text one character at a time,
and the adaptive reading adds each held-out character the same way after scoring it. Every text
read is a document of its own: its first characters have no history before them.
"""

import numpy as np

_START = -1  # stands for "no character before this one" when counting left contexts


class KneserNey:
    def __init__(self, ids: np.ndarray, vocab_size: int, order: int, discount: float):
        if not 0 < discount < 1:
            raise ValueError("discount must lie in (0, 1)")
        self.order, self.discount, self.vocab_size = order, discount, vocab_size
        # counts[n][ngram]: raw counts for the highest order, continuation counts below it;
        # seen[n]: the (n + 1)-grams (left character + n-gram) already counted at order n.
        self.counts: list[dict] = [{} for _ in range(order + 1)]
        self.seen: list[set] = [set() for _ in range(order)]
        # Per history: the total of its counts and how many distinct characters follow it.
        self.totals: list[dict] = [{} for _ in range(order + 1)]
        self.types: list[dict] = [{} for _ in range(order + 1)]
        seq = [int(i) for i in ids]
        for t in range(len(seq)):
            self.add(seq, t)

    def add(self, seq: list[int], t: int) -> None:
        """Count the character seq[t], with the characters before it in `seq` as its history."""
        order = self.order
        if t + 1 >= order:
            self._count(order, tuple(seq[t + 1 - order:t + 1]))
        for n in range(1, min(order - 1, t + 1) + 1):
            gram = tuple(seq[t + 1 - n:t + 1])
            left = seq[t - n] if t >= n else _START
            if (left, *gram) not in self.seen[n]:
                self.seen[n].add((left, *gram))
                self._count(n, gram)

    def _count(self, n: int, gram: tuple[int, ...]) -> None:
        count = self.counts[n].get(gram, 0) + 1
        self.counts[n][gram] = count
        history = gram[:-1]
        self.totals[n][history] = self.totals[n].get(history, 0) + 1
        if count == 1:
            self.types[n][history] = self.types[n].get(history, 0) + 1

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

    def longest_context(self, history: tuple[int, ...]) -> tuple[int, int, int]:
        """(length, total, types) of the longest suffix of history (up to order-1 characters) that
        the counts have seen as a history: how much of the context has occurred before."""
        history = tuple(history[-(self.order - 1):]) if self.order > 1 else ()
        for length in range(len(history), 0, -1):
            context = history[len(history) - length:]
            total = self.totals[length + 1].get(context, 0)
            if total:
                return length, total, self.types[length + 1][context]
        return 0, self.totals[1].get((), 0), self.types[1].get((), 0)

    def target_log_probs(self, ids: np.ndarray, adapt: bool = False) -> np.ndarray:
        """Natural-log probability of ids[1:], each given the characters before it in `ids`.

        With `adapt`, `ids` is read as a new document whose characters are added to the counts
        right after each is scored (ids[0] before anything), so the model changes as it reads.
        """
        return self.read(ids, adapt)[0]

    def read(self, ids: np.ndarray, adapt: bool, with_contexts: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """`target_log_probs`, and with `with_contexts` also `longest_context` of each scored
        character's history as a [len(ids) - 1, 3] int array, taken before the character is counted."""
        seq = [int(i) for i in ids]
        context = self.order - 1
        n = max(len(seq) - 1, 0)
        log_probs = np.empty(n)
        contexts = np.empty((n, 3), dtype=np.int64) if with_contexts else None
        for t in range(len(seq)):
            if t:
                history = tuple(seq[max(0, t - context):t])
                log_probs[t - 1] = np.log(self.prob(history, seq[t]))
                if with_contexts:
                    contexts[t - 1] = self.longest_context(history)
            if adapt:
                self.add(seq, t)
        return log_probs, contexts
