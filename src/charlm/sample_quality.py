"""How generated text reads, measured against real held-out text cut into pieces of the same
length: repetition within a piece (distinct-1 and distinct-2, the share of the most frequent
characters, loops) and copying from the train part (the longest span found there, the share of
8-grams found there), plus any `<unk>` emitted. NumPy only: copy detection compares hashed
windows of the texts with those of the train part (charlm.hashing), not a scan per sample.
"""

import re

import numpy as np

from charlm.hashing import empty_windows, extend
from charlm.vocab import UNK

TOP_CHARACTERS = 8
COPY_NGRAM = 8
# A loop: a unit of 2 or more characters three times in a row, or one character four times.
# Whitespace alone (the corpus's line breaks became spaces) is not a loop.
_LOOP = re.compile(r"(?=(\S.+?)\1\1)|(\S)\2\2\2")


def _codes(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) + 1


def loops(text: str) -> bool:
    return _LOOP.search(text) is not None


def distinct(text: str, n: int) -> float:
    grams = [text[i:i + n] for i in range(len(text) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def top_share(texts: list[str], top: int = TOP_CHARACTERS) -> float:
    """The share of the non-space characters of all `texts` that are one of their `top` most frequent."""
    characters = [ch for text in texts for ch in text if not ch.isspace()]
    if not characters:
        return 0.0
    _, counts = np.unique(np.array(characters), return_counts=True)
    return float(np.sort(counts)[::-1][:top].sum() / len(characters))


class CopyDetector:
    """Which spans of a text also occur in the train part, by hashed windows of each length.

    Windows are followed from their start, one character longer at a time, and a train position
    stays in play only while its window still equals some window of the texts: a span of length
    L + 1 occurs in the train part only where its first L characters do. Every window of the texts
    is kept up to COPY_NGRAM characters (for the share of copied COPY_NGRAM-grams), so the train
    positions thin out over the first lengths; after those only a few are left, and the cost no
    longer grows with the length of the copies (one pass and one sort of the train part per
    length before)."""

    def __init__(self, train_text: str):
        self._codes = _codes(train_text)

    def longest_spans(self, texts: list[str]) -> tuple[list[int], float]:
        """Per text, the length of its longest span that occurs in the train part; and over all
        texts, the share of their COPY_NGRAM-grams that occur there."""
        codes = [_codes(text) for text in texts]
        lengths = np.array([len(c) for c in codes], dtype=np.int64)
        joined = np.concatenate(codes + [np.zeros(0, np.uint64)])
        # A window starts at every position of the texts joined; `owner` is its text, and
        # `ends` where that text stops: a window that would run past it is gone.
        owner = np.repeat(np.arange(len(codes)), lengths)
        ends = np.repeat(np.cumsum(lengths), lengths)
        starts = np.arange(len(joined))
        windows = empty_windows(len(joined))
        train_starts = np.arange(len(self._codes))
        train_windows = empty_windows(len(self._codes))
        longest, copied_share = [0] * len(texts), 0.0
        length = 0
        while len(starts) and (len(train_starts) or length < COPY_NGRAM):
            length += 1
            fits = starts + length <= ends[starts]
            starts, windows = starts[fits], extend(windows[fits], joined[starts[fits] + length - 1])
            fits = train_starts + length <= len(self._codes)
            train_starts = train_starts[fits]
            train_windows = extend(train_windows[fits], self._codes[train_starts + length - 1])
            wanted = np.unique(windows)
            index = np.minimum(np.searchsorted(wanted, train_windows), max(len(wanted) - 1, 0))
            in_texts = wanted[index] == train_windows if len(wanted) else np.zeros(len(train_windows), bool)
            train_starts, train_windows = train_starts[in_texts], train_windows[in_texts]
            seen = np.zeros(len(wanted), bool)
            seen[index[in_texts]] = True
            found = seen[np.searchsorted(wanted, windows)] if len(wanted) else np.zeros(0, bool)
            for i in np.unique(owner[starts[found]]):
                longest[i] = length
            if length == COPY_NGRAM:
                copied_share = float(found.mean()) if len(found) else 0.0
            if not found.any() and length >= COPY_NGRAM:
                break
            starts, windows = starts[found | (length < COPY_NGRAM)], windows[found | (length < COPY_NGRAM)]
        return longest, copied_share


def figures(texts: list[str], copies: CopyDetector) -> dict:
    """The measures over a set of pieces of text (each a continuation, without its prefix)."""
    longest, copied = copies.longest_spans(texts)
    return {
        "pieces": len(texts),
        "distinct_1": round(float(np.mean([distinct(t, 1) for t in texts])), 4),
        "distinct_2": round(float(np.mean([distinct(t, 2) for t in texts])), 4),
        "top8_share": round(top_share(texts), 4),
        "loop_fraction": round(float(np.mean([loops(t) for t in texts])), 4),
        "longest_copy_median": float(np.median(longest)),
        "longest_copy_max": int(max(longest)),
        "copied_8gram_share": round(copied, 4),
        "unk": sum(t.count(UNK) for t in texts),
    }


def held_out_pieces(text: str, length: int, most: int | None = None) -> list[str]:
    """`text` cut into consecutive pieces of `length` characters (the rest dropped); of more than
    `most` pieces, `most` spread evenly over the text, so that measuring them costs the same
    however long the text."""
    count = (len(text) - length) // length + 1 if len(text) >= length else 0
    chosen = range(count) if most is None or count <= most else (i * count // most for i in range(most))
    return [text[i * length:(i + 1) * length] for i in chosen]
