import pytest

from charlm.compression import (ENCODINGS, PPMD_MEMORY_MB, PPMD_ORDERS, XZ, XZ_UTF16, Compressor,
                                choose_on_validation, conditional_perplexity, ppmd_grid, references)

VERSE = "分开 不分开 我的爱 想要和你飞到宇宙去 " * 3
FRESH = "".join(chr(0x4E00 + i * 37 % 2000) for i in range(len(VERSE)))


class CountingX:
    """A stand-in compressor that pays 10 bits for each X and nothing for anything else."""

    def bits(self, text: str) -> int:
        return 10 * text.count("X")


def test_the_compressor_pays_for_the_characters_the_models_score():
    # A part's first character is read, not scored, and the bits are shared over the rest.
    assert conditional_perplexity("XX", "Xabc", CountingX()) == 1.0
    assert conditional_perplexity("XX", "aXbc", CountingX()) == pytest.approx(2 ** (10 / 3))
    assert conditional_perplexity("", "aXXb", CountingX()) == pytest.approx(2 ** (20 / 3))
    assert conditional_perplexity("abc", "X", CountingX()) is None
    assert conditional_perplexity("abc", "", CountingX()) is None


@pytest.mark.parametrize("compressor", [XZ, XZ_UTF16, Compressor("ppmd", "utf-8", 6, 16),
                                        Compressor("ppmd", "utf-16-le", 4, 4)])
def test_each_compressor_pays_less_for_text_it_has_seen_before(compressor):
    assert conditional_perplexity(VERSE, VERSE, compressor) < conditional_perplexity(VERSE, FRESH, compressor) / 5


def test_ppmd_is_chosen_on_validation_only():
    train, valid = VERSE * 2, VERSE[:30] + FRESH[:30]
    grid = ppmd_grid(train, valid)
    assert len(grid) == len(ENCODINGS) * len(PPMD_ORDERS)
    assert {c.memory_mb for c in grid} == {PPMD_MEMORY_MB}
    chosen = choose_on_validation(train, valid)
    assert grid[chosen] == min(grid.values())
    # Equal on validation: the lower order wins.
    assert chosen.order == min(c.order for c, value in grid.items() if value == grid[chosen])
    texts = {"train": train, "valid": valid, "test": FRESH}
    report = references(texts)
    assert set(report) == {"xz", "xz_utf16", "ppmd"}
    assert {k: v for k, v in report["ppmd"].items() if k != "test"} == {"valid": round(grid[chosen], 4),
                                                                        **chosen.settings()}
    assert report["ppmd"]["test"] > 1
    changed = references({**texts, "test": VERSE})  # another test part leaves the choice as it was
    assert {k: changed["ppmd"][k] for k in ("encoding", "order", "memory_mb")} == chosen.settings()
    assert changed["ppmd"]["valid"] == report["ppmd"]["valid"]
