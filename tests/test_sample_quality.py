import numpy as np
import pytest

from charlm.sample_quality import CopyDetector, distinct, figures, held_out_pieces, loops, top_share


@pytest.mark.parametrize("text, looping", [
    ("我不能再想 我不能再想 我不能再想 ", True),   # a unit of 6 three times in a row
    ("我不能再想 我不能再想 我不能再", False),     # twice, and most of a third
    ("划划划划", True),                         # one character four times
    ("划划划", False),
    ("我 我 我 ", True),                         # "我 " three times
    ("分开 不分开 我的爱", False),
    ("a    b", False),                           # spaces alone are not a loop
])
def test_loops(text, looping):
    assert loops(text) == looping


def test_distinct_and_top_share():
    assert distinct("abab", 1) == 0.5 and distinct("abab", 2) == pytest.approx(2 / 3)
    assert top_share(["aaab", "cdef"], top=1) == pytest.approx(3 / 8)
    assert top_share(["a b", "a"], top=1) == pytest.approx(2 / 3)  # spaces are not counted


def test_copy_detection_finds_the_longest_span_and_copied_8grams():
    train = "想要和你飞到宇宙去 想要和你融化在一起 融化在宇宙里"
    copies = CopyDetector(train)
    longest, share = copies.longest_spans(["想要和你融化在一起吗", "你好啊朋友们今天天气", "宙"])
    assert longest == [len("想要和你融化在一起"), 1, 1]
    # 8-grams: the first text has 3 (2 found), the second 3 (none found), the third none.
    assert share == pytest.approx(2 / 6)


def test_figures_of_real_pieces(tmp_path):
    text = "分开 不分开 我的爱 想要和你飞到宇宙去 " * 3
    pieces = held_out_pieces(text, 10)
    assert len(pieces) == len(text) // 10 and all(len(p) == 10 for p in pieces)
    result = figures(pieces, CopyDetector(text))
    assert result["longest_copy_max"] == 10 and result["copied_8gram_share"] == 1.0
    assert result["unk"] == 0 and result["pieces"] == len(pieces)
    assert figures(["ab<unk>c"], CopyDetector("xyz"))["unk"] == 1


def test_held_out_pieces_beyond_a_most_are_spread_over_the_text():
    text = "".join(chr(ord("a") + i) * 3 for i in range(10))  # aaabbb...jjj: 10 pieces of 3
    assert held_out_pieces(text, 3) == held_out_pieces(text, 3, most=10) == [c * 3 for c in "abcdefghij"]
    assert held_out_pieces(text, 3, most=4) == ["aaa", "ccc", "fff", "hhh"]
    assert held_out_pieces(text + "kk", 3, most=1) == ["aaa"] and held_out_pieces("ab", 3) == []


def test_longest_spans_equal_a_search_of_every_span():
    rng = np.random.default_rng(5)
    train = "".join(rng.choice(list("abcd"), 300))
    texts = ["".join(rng.choice(list("abcde"), n)) for n in (0, 1, 5, 7, 8, 9, 30, 60)] + [train[40:90], train]
    longest, share = CopyDetector(train).longest_spans(texts)

    def occurs(span):
        return span in train
    assert longest == [max((j - i for i in range(len(t)) for j in range(i + 1, len(t) + 1) if occurs(t[i:j])), default=0)
                       for t in texts]
    eights = [t[i:i + 8] for t in texts for i in range(len(t) - 7)]
    assert share == pytest.approx(sum(map(occurs, eights)) / len(eights))
    assert CopyDetector("").longest_spans(["abc"]) == ([0], 0.0) and CopyDetector("ab").longest_spans([]) == ([], 0.0)
