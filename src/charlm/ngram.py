"""An interpolated Kneser-Ney character n-gram model: the counting baseline the network must beat,
static or adaptive (its counts updated with each character right after it is scored).

Chen & Goodman's interpolated Kneser-Ney with one absolute discount D for every order. The
highest order uses raw counts; lower orders use continuation counts (how many distinct
characters precede an n-gram; the start of a text counts as one). Order 0 is uniform over the
vocabulary, so `<unk>` and every unseen continuation keep some probability. NumPy only.

Storage is sized for large corpora, as KenLM's is: no Python object per n-gram. Every n-gram is
a 64-bit hash of its characters (charlm.hashing: one array pass per order hashes every window of
the text), and the counts of the train text are sorted arrays of hashes with their
counts, and per history its total and number of distinct followers, looked up by binary search,
whole texts at a time. About 20 bytes per distinct n-gram and order. What an adaptive reading adds
goes to small dictionaries beside the arrays, bounded by the length of the text read.

Every text read is a document of its own: its first characters have no history before them.
"""

import copy
from typing import Callable

import numpy as np

from charlm.errors import UserError
from charlm.hashing import SEED, empty_windows, extend, next_windows, window_hashes

_START = 1  # the code of "no character before this one"; characters are id + 2
PROGRESS_EVERY = 4096  # characters between two calls of an adaptive reading's `advance`
SCORE_CHUNK = 65_536  # positions scored at once by a static reading


# What counting takes per train character when every n-gram is distinct (long n-grams nearly are):
# 20 bytes per order kept, and while one order is counted the text's codes, the hashes of three
# orders, the order's grams and histories and a sort's copies and indices.
BYTES_PER_CHARACTER_AND_ORDER = 20
BYTES_PER_CHARACTER_WHILE_COUNTING = 96


def counting_bytes(train_length: int, orders: list[int]) -> int:
    """The memory the counts of `train_length` characters may need, one model per order (an
    estimate for the worst case: every n-gram distinct)."""
    return train_length * (BYTES_PER_CHARACTER_AND_ORDER * sum(orders) + BYTES_PER_CHARACTER_WHILE_COUNTING)


def check_counts_fit(train_length: int, orders: list[int], available: int | None) -> None:
    """A UserError, before any counting, if the counts may need more than `available` bytes
    (None: unknown, no check)."""
    needed = counting_bytes(train_length, sorted(set(orders)))
    if available is not None and needed > available:
        raise UserError(f"the n-gram counts (order {', '.join(map(str, sorted(set(orders))))}) of {train_length:,} train "
                        f"characters may need up to {needed / 1e9:.1f} GB and {available / 1e9:.1f} GB of memory is "
                        f"available; lower evaluate.ngram_order and evaluate.adaptive_ngram_order, or keep fewer "
                        f"characters with unzip.max_chars")


def available_memory() -> int | None:
    """The memory the system can give without swapping (Linux's MemAvailable), in bytes; None if unknown."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _extended_codes(ids) -> np.ndarray:
    """The document's codes after a start marker: extended index j is document position j - 1."""
    return np.concatenate([[_START], np.asarray(ids, dtype=np.int64) + 2]).astype(np.uint64)


class _Table:
    """Sorted 64-bit keys with their values; `lookup` gives 0 for an absent key."""

    def __init__(self, keys: np.ndarray, *values: np.ndarray):
        self.keys, self.values = keys, values

    def lookup(self, queries: np.ndarray, which: int = 0) -> np.ndarray:
        if len(self.keys) == 0:
            return np.zeros(len(queries), dtype=np.int64)
        index = np.minimum(np.searchsorted(self.keys, queries), len(self.keys) - 1)
        return np.where(self.keys[index] == queries, self.values[which][index], 0).astype(np.int64)

    def contains(self, queries: np.ndarray) -> np.ndarray:
        if len(self.keys) == 0:
            return np.zeros(len(queries), dtype=bool)
        index = np.minimum(np.searchsorted(self.keys, queries), len(self.keys) - 1)
        return self.keys[index] == queries


def _by_history(keys: np.ndarray, counts: np.ndarray, histories: np.ndarray) -> _Table:
    """Per history: the total of its grams' counts and how many distinct grams follow it, over
    `keys`, the sorted hashes of the order below (every history of order n is an (n-1)-gram of the
    text), so the hashes are stored once for both uses."""
    index = np.searchsorted(keys, histories)
    totals = np.bincount(index, weights=counts, minlength=len(keys)).astype(np.uint32)
    types = np.bincount(index, minlength=len(keys)).astype(np.uint32)
    return _Table(keys, totals, types)


class KneserNey:
    def __init__(self, ids: np.ndarray, vocab_size: int, order: int, discount: float):
        if not 0 < discount < 1:
            raise ValueError("discount must lie in (0, 1)")
        self.order, self.discount, self.vocab_size = order, discount, vocab_size
        # grams[n]: the counted n-grams (raw counts at the highest order, continuation counts
        # below); histories[n]: total and distinct followers of each history of order n;
        # start_pairs[n]: the start marker + first n characters of the train text, a left context
        # that no (n+1)-gram holds.
        self.grams, self.histories, self.start_pairs = [None], [None], [None]
        codes = _extended_codes(ids)
        # Three orders of window hashes at a time (n - 1, n, n + 1), not all of them.
        hashes = {0: empty_windows(len(codes))}
        hashes[1] = next_windows(hashes[0], codes)
        for n in range(1, order + 1):
            hashes.pop(n - 2, None)  # before the next order is hashed: three orders live at a time
            if n < order:
                hashes[n + 1] = next_windows(hashes[n], codes)
            ends = np.arange(n, len(codes))  # windows of n characters, the start marker excluded
            grams, histories = hashes[n][ends], hashes[n - 1][ends - 1]
            if n == order:
                keys, first, counts = np.unique(grams, return_index=True, return_counts=True)
            else:
                # Continuation count: the distinct left contexts (n + 1 codes, the start marker
                # included) that end in the gram.
                _, pair_first = np.unique(hashes[n + 1][ends], return_index=True)
                keys, first_pair, counts = np.unique(grams[pair_first], return_index=True, return_counts=True)
                first = pair_first[first_pair]
            self.grams.append(_Table(keys, counts.astype(np.uint32)))
            below = self.grams[n - 1].keys if n > 1 else np.array([SEED], dtype=np.uint64)
            self.histories.append(_by_history(below, counts, histories[first]))
            self.start_pairs.append({int(hashes[n + 1][n])} if n < order and len(codes) > n else set())
        self._forget_reading()

    def _forget_reading(self) -> None:
        # What adaptive reading has added: per order, counts, totals, distinct followers, left contexts.
        self._counts = [{} for _ in range(self.order + 1)]
        self._totals = [{} for _ in range(self.order + 1)]
        self._types = [{} for _ in range(self.order + 1)]
        self._seen = [set() for _ in range(self.order + 1)]

    def with_discount(self, discount: float) -> "KneserNey":
        """A model with this one's train counts (the same arrays, not a copy: they are never
        written) and another discount, with nothing read adaptively yet: the static and the
        adaptive n-gram of one order share their counts, which dominate memory on a large corpus."""
        if not 0 < discount < 1:
            raise ValueError("discount must lie in (0, 1)")
        other = copy.copy(self)
        other.discount = discount
        other._forget_reading()
        return other

    def _static_columns(self, codes: np.ndarray):
        """Per order n, over the document positions t of `codes` (extended): the hashes of the
        n-gram ending at t, its history and its left context, and the train counts of each."""
        hashes = window_hashes(codes, self.order + 1)
        j = np.arange(1, len(codes))  # document position t is extended index t + 1
        columns = [None]
        for n in range(1, self.order + 1):
            gram, history = hashes[n][j], hashes[n - 1][j - 1]
            pair = hashes[n + 1][j] if n < self.order else None
            in_train = None
            if pair is not None:
                in_train = self.grams[n + 1].contains(pair) | np.isin(pair, np.array(sorted(self.start_pairs[n]), dtype=np.uint64))
            columns.append((gram, history, pair, self.grams[n].lookup(gram), self.histories[n].lookup(history, 0),
                            self.histories[n].lookup(history, 1), in_train))
        return columns

    def _count(self, n: int, gram: int, history: int, train_count: int) -> None:
        count = self._counts[n].get(gram, 0) + 1
        self._counts[n][gram] = count
        self._totals[n][history] = self._totals[n].get(history, 0) + 1
        if train_count + count == 1:
            self._types[n][history] = self._types[n].get(history, 0) + 1

    def add_document(self, ids) -> None:
        """Count `ids` as a document of its own, as an adaptive reading does."""
        self.read(ids, adapt=True)

    def prob(self, history: tuple[int, ...], token: int) -> float:
        """P(token | the last order-1 characters of history)."""
        history = tuple(history[-(self.order - 1):]) if self.order > 1 else ()
        # Scored as the last character of a document made of the history and the token.
        scores, _ = self._score(np.array([*history, token]), with_contexts=False, only_last=True)
        return float(np.exp(scores[-1]))

    def next_distributions(self, histories: np.ndarray) -> np.ndarray:
        """P(c | each row's history) for every id c, [rows, vocab_size]: row i of `histories`
        [rows, length] holds the characters of a document read so far, of which the last order-1
        count, and the row is the distribution `prob` gives each c after them. Vectorised over
        rows and ids (order x rows x vocab_size lookups), for a sampler that draws from the n-gram."""
        histories = np.asarray(histories, dtype=np.int64)
        rows, length = histories.shape
        keep = min(length, self.order - 1)
        codes = (histories[:, length - keep:] + 2).astype(np.uint64)
        candidates = np.arange(self.vocab_size, dtype=np.uint64) + 2
        # suffixes[k]: the hash of each row's last k characters.
        suffixes, windows = [np.full(rows, SEED, dtype=np.uint64)], np.full((rows, keep), SEED, dtype=np.uint64)
        for _ in range(keep):
            windows = extend(np.concatenate([np.full((rows, 1), SEED, dtype=np.uint64), windows[:, :-1]], axis=1), codes)
            suffixes.append(windows[:, -1])
        p = np.full((rows, self.vocab_size), 1.0 / self.vocab_size)
        for n in range(1, keep + 2):  # a history of n - 1 <= keep characters
            history = suffixes[n - 1]
            grams = extend(history[:, None], candidates[None, :]).ravel()
            count = self._with_added(self.grams[n].lookup(grams), grams, self._counts[n]).reshape(rows, -1)
            total = self._with_added(self.histories[n].lookup(history, 0), history, self._totals[n])
            types = self._with_added(self.histories[n].lookup(history, 1), history, self._types[n])
            usable = (total > 0)[:, None]
            p = np.where(usable, (np.maximum(count - self.discount, 0.0) + self.discount * types[:, None] * p)
                         / np.maximum(total, 1)[:, None], p)
        return p

    def longest_context(self, history: tuple[int, ...]) -> tuple[int, int, int]:
        """(length, total, types) of the longest suffix of history (up to order-1 characters) that
        the counts have seen as a history: how much of the context has occurred before."""
        history = tuple(history[-(self.order - 1):]) if self.order > 1 else ()
        _, contexts = self._score(np.array([*history, 0]), with_contexts=True, only_last=True)
        return tuple(int(v) for v in contexts[-1])

    def target_log_probs(self, ids: np.ndarray, adapt: bool = False,
                         advance: Callable[[int], None] | None = None) -> np.ndarray:
        """Natural-log probability of ids[1:], each given the characters before it in `ids`.

        With `adapt`, `ids` is read as a new document whose characters are added to the counts
        right after each is scored (ids[0] before anything), so the model changes as it reads;
        that reading is a loop over the characters, which tells `advance` (if given) how far it is.
        """
        return self.read(ids, adapt, advance=advance)[0]

    def read(self, ids: np.ndarray, adapt: bool, with_contexts: bool = False,
             advance: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """`target_log_probs`, and with `with_contexts` also `longest_context` of each scored
        character's history as a [len(ids) - 1, 3] int array, taken before the character is counted."""
        if not adapt:
            log_probs, contexts = self._score_in_chunks(np.asarray(ids), with_contexts)
            return log_probs[1:], contexts[1:] if with_contexts else None
        return self._read_adapting(np.asarray(ids), with_contexts, advance)

    def _score_in_chunks(self, ids: np.ndarray, with_contexts: bool):
        """`_score` of a long text a chunk of SCORE_CHUNK positions at a time, each after the
        order - 1 characters before it: a position's n-grams reach no further back, so the scores
        are those of one call, while the columns (about 900 bytes a position at order 16) stay bounded."""
        if len(ids) <= SCORE_CHUNK:
            return self._score(ids, with_contexts)
        reach = self.order - 1
        parts = [self._score(ids[max(start - reach, 0):start + SCORE_CHUNK], with_contexts)
                 for start in range(0, len(ids), SCORE_CHUNK)]
        skip = [min(start, reach) for start in range(0, len(ids), SCORE_CHUNK)]
        log_probs = np.concatenate([p[0][k:] for p, k in zip(parts, skip)])
        contexts = np.concatenate([p[1][k:] for p, k in zip(parts, skip)])
        return log_probs, contexts

    def _score(self, ids: np.ndarray, with_contexts: bool, only_last: bool = False):
        """Scores of every position of `ids` as a document (position 0 included, from no history),
        with the counts as they are, vectorised over positions."""
        columns = self._static_columns(_extended_codes(ids))
        t = np.arange(len(ids))
        if only_last:
            t = t[-1:]
            columns = [None] + [tuple(None if c is None else c[-1:] for c in column) for column in columns[1:]]
        p = np.full(len(t), 1.0 / self.vocab_size)
        contexts = np.zeros((len(t), 3), dtype=np.int64)
        for n in range(1, self.order + 1):
            gram, history, _, count, total, types, _ = columns[n]
            count, total, types = (self._with_added(values, keys, added) for values, keys, added in
                                   ((count, gram, self._counts[n]), (total, history, self._totals[n]),
                                    (types, history, self._types[n])))
            usable = (n <= t + 1) & (total > 0)  # a history of n - 1 characters, seen before
            safe_total = np.where(usable, total, 1)
            p = np.where(usable, (np.maximum(count - self.discount, 0.0) + self.discount * types * p) / safe_total, p)
            if with_contexts:
                if n == 1:
                    contexts[:] = np.stack([np.zeros_like(total), total, types], axis=1)
                else:
                    contexts = np.where(usable[:, None], np.stack([np.full_like(total, n - 1), total, types], axis=1),
                                        contexts)
        return np.log(p), contexts

    @staticmethod
    def _with_added(values: np.ndarray, keys: np.ndarray, added: dict) -> np.ndarray:
        if not added:
            return values
        return values + np.fromiter((added.get(k, 0) for k in keys.tolist()), dtype=np.int64, count=len(keys))

    def _read_adapting(self, ids: np.ndarray, with_contexts: bool, advance: Callable[[int], None] | None):
        order, discount = self.order, self.discount
        columns = [None] + [tuple(None if c is None else c.tolist() for c in column)
                            for column in self._static_columns(_extended_codes(ids))[1:]]
        n_scored = max(len(ids) - 1, 0)
        log_probs = np.empty(n_scored)
        contexts = np.empty((n_scored, 3), dtype=np.int64) if with_contexts else None
        for t in range(len(ids)):
            if advance and not t % PROGRESS_EVERY:
                advance(t)
            top = min(order, t + 1)
            if t:
                p, context = 1.0 / self.vocab_size, None
                for n in range(1, top + 1):
                    gram, history, _, count, total, types, _ = (c[t] if c is not None else None for c in columns[n])
                    total += self._totals[n].get(history, 0)
                    types += self._types[n].get(history, 0)
                    if n == 1 or total:  # the longest history seen before, as `longest_context` gives
                        context = (n - 1, total, types)
                    if total:
                        count += self._counts[n].get(gram, 0)
                        p = (max(count - discount, 0.0) + discount * types * p) / total
                log_probs[t - 1] = np.log(p)
                if with_contexts:
                    contexts[t - 1] = context
            # Count the character: its highest-order n-gram, and each lower-order one whose left
            # context is new.
            if t + 1 >= order:
                gram, history, _, count, *_ = (c[t] if c is not None else None for c in columns[order])
                self._count(order, gram, history, count)
            for n in range(1, min(order - 1, t + 1) + 1):
                gram, history, pair, count, _, _, in_train = (c[t] for c in columns[n])
                if not in_train and pair not in self._seen[n]:
                    self._seen[n].add(pair)
                    self._count(n, gram, history, count)
        return log_probs, contexts

    def count_tables(self) -> tuple[list[dict], list[dict], list[dict]]:
        """Per order, {hash: count}, {history hash: total} and {history hash: distinct followers},
        the train text's and what was read since together (for tests: small models only)."""
        def merged(table: _Table, which: int, added: dict) -> dict:
            out = {int(k): int(v) for k, v in zip(table.keys.tolist(), table.values[which].tolist()) if v}
            for key, value in added.items():
                out[key] = out.get(key, 0) + value
            return out
        counts = [merged(self.grams[n], 0, self._counts[n]) for n in range(1, self.order + 1)]
        totals = [merged(self.histories[n], 0, self._totals[n]) for n in range(1, self.order + 1)]
        types = [merged(self.histories[n], 1, self._types[n]) for n in range(1, self.order + 1)]
        return counts, totals, types
