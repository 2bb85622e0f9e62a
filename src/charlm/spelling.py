"""Spelling out the characters the fixed class set cannot name, so that every model's figure is a
cost a decoder could pay (open vocabulary), as a compressor's is.

The class set scores every character never seen in training as one class (`vocab.UNK_ID`); a
compressor must also say which character it was. Here a character of that class is spelled out
byte by byte in UTF-8: the lead byte, then each continuation byte given its position and the byte
before it, with add-constant smoothing over the bytes UTF-8 allows there. The counts come from
the distinct train characters (types, not tokens: an unseen character is a rare one, so the spread
of the vocabulary says more about it than the frequent characters do). This gives a distribution
over byte strings that sums to 1; renormalised over the characters the class set cannot name (the
train characters' share is taken out), it still sums to at most 1 over characters, some of its
mass being left on byte strings that are not characters.

Static spelling is that base alone. Adaptive spelling also keeps a cache of the unseen characters
already read in the held-out stream, as compressors do (a Pitman-Yor / PPM escape): after N
unseen characters of K distinct ones, one read n_c times before costs (n_c - d) / (N + a) and a new
one (a + d K) / (N + a) times its base probability, renormalised over the characters not yet in
the cache. Every cost is known before its character is read. NumPy only.

Settings chosen on validation (bits per unseen character of the default corpus's validation
part, given train): smoothing 0.25 / 0.5 / 1 / 2 / 4 / 8 gave 14.68 / 14.23 / 13.89 / 13.68 / 13.59 /
13.63 statically; then the cache with (d, a) = (0, 1) / (0, 4) / (0.25, 1) / (0.5, 0) / (0.5, 1) /
(0.75, 1) gave 11.60 / 10.82 / 10.56 / 10.41 / 10.38 / 10.46.
"""

import numpy as np

SMOOTHING = 4.0      # added to every byte's count where UTF-8 allows that byte
DISCOUNT = 0.5       # d: taken from each cached character's count
CONCENTRATION = 1.0  # a: how ready the cache is to meet a new character

# The bytes a UTF-8 character can start with (C0, C1 and F5-FF never start one) and the 64 values
# of a continuation byte (80-BF, 6 bits each).
LEAD_BYTES = np.r_[0x00:0x80, 0xC2:0xF5]
CONTINUATION_VALUES = 64
MAX_LENGTH = 4


def utf8_bytes(code_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each code point's UTF-8 bytes, as a [n, 4] int array (unused places -1), and its length."""
    cp = np.asarray(code_points, dtype=np.int64)
    length = 1 + (cp >= 0x80) + (cp >= 0x800) + (cp >= 0x10000)
    shifts = 6 * (length - 1)
    out = np.full((len(cp), MAX_LENGTH), -1, dtype=np.int64)
    out[:, 0] = np.array([0, 0, 0xC0, 0xE0, 0xF0])[length] | (cp >> shifts)
    for k in range(1, MAX_LENGTH):
        has = length > k
        out[has, k] = 0x80 | ((cp[has] >> (shifts[has] - 6 * k)) & 0x3F)
    return out, length


def code_points(characters) -> np.ndarray:
    return np.fromiter((ord(c) for c in characters), dtype=np.int64, count=len(characters))


class Spelling:
    """P(character | it is none of the `known` characters), from the UTF-8 bytes of the distinct
    known characters; `known` is what the class set names (the train characters)."""

    def __init__(self, known, smoothing: float = SMOOTHING):
        types = code_points(sorted(set(known)))
        data, length = utf8_bytes(types)
        lead = np.bincount(data[:, 0], minlength=256).astype(np.float64)
        allowed = np.zeros(256, dtype=bool)
        allowed[LEAD_BYTES] = True
        with np.errstate(divide="ignore"):  # a byte UTF-8 does not allow there gets log 0
            self._lead = np.log(np.where(allowed, lead + smoothing, 0.0)) - np.log(lead.sum() + smoothing * allowed.sum())
        # Continuation byte k (1..3) given the byte before it: context (k - 1) * 256 + that byte.
        counts = np.zeros(((MAX_LENGTH - 1) * 256, CONTINUATION_VALUES))
        for k in range(1, MAX_LENGTH):
            has = length > k
            np.add.at(counts, ((k - 1) * 256 + data[has, k - 1], data[has, k] & 0x3F), 1.0)
        self._continuation = (np.log(counts + smoothing)
                              - np.log(counts.sum(axis=1, keepdims=True) + smoothing * CONTINUATION_VALUES))
        # The known characters are never spelled: their share of the base is given to the rest.
        self._log_unknown_share = np.log1p(-np.exp(self._byte_log_probs(types)).sum()) if len(types) else 0.0

    def _byte_log_probs(self, cp: np.ndarray) -> np.ndarray:
        """log P of each code point's UTF-8 byte string under the byte model (sums to 1 over them)."""
        data, length = utf8_bytes(cp)
        log_probs = self._lead[data[:, 0]]
        for k in range(1, MAX_LENGTH):
            has = length > k
            log_probs[has] += self._continuation[(k - 1) * 256 + data[has, k - 1], data[has, k] & 0x3F]
        return log_probs

    def log_probs(self, characters) -> np.ndarray:
        """Natural-log P(character | not a known one) of each of `characters` (meaningless for a
        known character, which is never spelled)."""
        return self._byte_log_probs(code_points(characters)) - self._log_unknown_share

    def static_costs(self, text: str, unseen: np.ndarray) -> np.ndarray:
        """Nats to spell each character of text[1:] (the ones the models score) given the class
        set: 0 where the class set names it, -log P(character) where `unseen` (class 0) marks it."""
        unseen = np.asarray(unseen, dtype=bool)[1:]
        costs = np.zeros(len(unseen))
        costs[unseen] = -self.log_probs([text[1 + i] for i in np.flatnonzero(unseen)])
        return costs

    def adaptive_costs(self, text: str, unseen: np.ndarray) -> np.ndarray:
        """`static_costs` with a cache of the unseen characters of `text` read so far (text[0]
        included, though not scored): one read before costs less, a new one pays the escape."""
        unseen = np.asarray(unseen, dtype=bool)
        at = np.flatnonzero(unseen)
        costs = np.zeros(len(text))
        if len(at):
            costs[at] = -_cache_log_probs(code_points([text[i] for i in at]), self._byte_log_probs,
                                          self._log_unknown_share)
        return costs[1:]


def bits_per_character(costs: np.ndarray, unseen: np.ndarray) -> float | None:
    """Mean bits of `costs` (nats per scored character) over the `unseen` ones; None if none."""
    count = int(np.count_nonzero(unseen))
    return None if count == 0 else float(np.sum(costs) / np.log(2) / count)


def _cache_log_probs(cp: np.ndarray, byte_log_probs, log_unknown_share: float) -> np.ndarray:
    """log P of each unseen character of a stream, in order, under the cache over those before it."""
    n = len(cp)
    kinds, first, kind = np.unique(cp, return_index=True, return_inverse=True)
    is_first = np.zeros(n, dtype=bool)
    is_first[first] = True
    # How often each one was read before: its rank among the reads of the same character.
    order = np.argsort(kind, kind="stable")
    starts = np.searchsorted(kind[order], kind[order])
    seen_before = np.empty(n, dtype=np.int64)
    seen_before[order] = np.arange(n) - starts
    read = np.arange(n)                          # N: unseen characters read before this one
    distinct = np.cumsum(is_first) - is_first    # K: distinct ones among them
    base = byte_log_probs(cp) - log_unknown_share
    # The base renormalised over the characters not yet cached (exclusion, as in PPM).
    cached_share = np.cumsum(np.where(is_first, np.exp(base), 0.0)) - np.where(is_first, np.exp(base), 0.0)
    denominator = read + CONCENTRATION
    with np.errstate(divide="ignore", invalid="ignore"):
        repeat = np.log(seen_before - DISCOUNT) - np.log(denominator)
        escape = np.where(read == 0, 0.0, np.log(CONCENTRATION + DISCOUNT * distinct) - np.log(denominator))
        new = escape + base - np.log1p(-cached_share)
    return np.where(is_first, new, repeat)
