"""A general-purpose compressor's view of the same text: what xz (LZMA) pays per character for a
part given all the text before it, as a perplexity, so the models have a familiar yardstick."""

import lzma
import math

# xz's strongest setting; a raw stream has no container header to blur small differences.
FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]


def compressed_bits(text: str) -> int:
    return 8 * len(lzma.compress(text.encode("utf-8"), format=lzma.FORMAT_RAW, filters=FILTERS))


def conditional_perplexity(before: str, text: str) -> float | None:
    """2 ** (bits per character of `text` given `before`): the growth of the compressed size when
    `text` is appended, shared over its characters. None for an empty text."""
    if not text:
        return None
    bits = compressed_bits(before + text) - compressed_bits(before)
    return 2.0 ** (bits / len(text))
