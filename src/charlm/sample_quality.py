"""How generated text reads, measured against real held-out text cut into pieces of the same
length: repetition within a piece (distinct-1 and distinct-2, the share of the most frequent
characters, loops) and copying from the train part (the longest span found there, the share of
8-grams found there), plus any `<unk>` emitted. NumPy only: copy detection uses sets of hashed
n-grams of the train part (charlm.hashing), one sort per span length, not a scan per sample.
"""

import re

import numpy as np

from charlm.hashing import empty_windows, next_windows
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
    """Which spans of a text also occur in the train part, by hashed windows of each length."""

    def __init__(self, train_text: str):
        self._codes = _codes(train_text)

    def longest_spans(self, texts: list[str]) -> tuple[list[int], float]:
        """Per text, the length of its longest span that occurs in the train part; and over all
        texts, the share of their COPY_NGRAM-grams that occur there."""
        codes = [_codes(text) for text in texts]
        train = empty_windows(len(self._codes))
        windows = [empty_windows(len(c)) for c in codes]
        longest, copied_share = [0] * len(texts), 0.0
        alive = set(range(len(texts)))
        length = 0
        while alive or length < COPY_NGRAM:
            length += 1
            if length > max((len(c) for c in codes), default=0):
                break
            train = next_windows(train, self._codes)
            known = np.unique(train[length - 1:])
            hits_at_8 = total_at_8 = 0
            for i, c in enumerate(codes):
                windows[i] = next_windows(windows[i], c)
                if len(c) < length:
                    alive.discard(i)
                    continue
                queries = windows[i][length - 1:]
                index = np.minimum(np.searchsorted(known, queries), len(known) - 1)
                found = known[index] == queries if len(known) else np.zeros(len(queries), bool)
                if length == COPY_NGRAM:
                    hits_at_8, total_at_8 = hits_at_8 + int(found.sum()), total_at_8 + len(found)
                if i in alive:
                    if found.any():
                        longest[i] = length
                    else:
                        alive.discard(i)
            if length == COPY_NGRAM:
                copied_share = hits_at_8 / total_at_8 if total_at_8 else 0.0
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


def held_out_pieces(text: str, length: int) -> list[str]:
    """`text` cut into consecutive pieces of `length` characters (the rest dropped)."""
    return [text[i:i + length] for i in range(0, len(text) - length + 1, length)]
