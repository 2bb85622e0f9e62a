"""64-bit hashes of every window of a sequence, one NumPy pass per window length: the keys of the
n-gram counts (charlm.ngram) and of copy detection (charlm.sample_quality).

A window's hash is built left to right from its codes (non-negative integers, 0 left unused),
so the hashes of the windows of length k come from those of length k - 1 ending one place
earlier. Two different windows share a hash with probability about 2^-64.
"""

import numpy as np

SEED = np.uint64(0x9E3779B97F4A7C15)  # the hash of the empty window


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection of 64-bit integers that spreads every input bit."""
    z = z ^ (z >> np.uint64(30))
    z = z * np.uint64(0xBF58476D1CE4E5B9)
    z = z ^ (z >> np.uint64(27))
    z = z * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def extend(hashes: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The hashes of windows `hashes` with one code more on their right (NumPy broadcasting)."""
    return _mix(hashes * np.uint64(0x100000001B3) + codes)


def next_windows(shorter: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """From the hashes of the k - 1 codes ending at each index j, those of the k codes ending at
    each j (valid for j >= k - 1)."""
    previous = np.concatenate([np.array([SEED], dtype=np.uint64), shorter[:-1]])  # ending one earlier
    return extend(previous, codes)


def empty_windows(n: int) -> np.ndarray:
    """The hashes of the empty windows ending at each of n indices."""
    return np.full(n, SEED, dtype=np.uint64)


def window_hashes(codes: np.ndarray, length: int) -> list[np.ndarray]:
    """hashes[k][j]: the hash of the k codes ending at codes[j] (k = 0..length), valid for j >= k - 1."""
    hashes = [empty_windows(len(codes))]
    for _ in range(length):
        hashes.append(next_windows(hashes[-1], codes))
    return hashes
