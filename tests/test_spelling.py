import math

import numpy as np
import pytest

from charlm.spelling import (CONCENTRATION, DISCOUNT, LEAD_BYTES, SMOOTHING, Spelling, bits_per_character,
                             code_points, utf8_bytes)

# Every character: all code points but the surrogates, which no UTF-8 text holds.
ALL_CHARACTERS = "".join(chr(cp) for cp in range(0x110000) if not 0xD800 <= cp < 0xE000)


def test_utf8_bytes_are_pythons():
    text = "a~\x7f\x80é߿ࠀ分開\uffff𐀀😀\U0010ffff"
    data, length = utf8_bytes(code_points(text))
    for row, n, character in zip(data, length, text):
        assert bytes(row[:n].tolist()) == character.encode("utf-8") and np.all(row[n:] == -1)


def test_spelling_is_a_proper_distribution_over_the_characters_it_may_spell():
    known = "ab"
    spelling = Spelling(known)
    probs = np.exp(spelling.log_probs(ALL_CHARACTERS))
    unknown = np.array([c not in known for c in ALL_CHARACTERS])
    # With two ASCII types every continuation byte is uniform, so what the byte model leaves on
    # byte strings that are not characters is known: half of E0's and ED's strings (overlong,
    # surrogates), a quarter of F0's and three quarters of F4's (overlong, beyond U+10FFFF).
    lead = SMOOTHING / (len(known) + SMOOTHING * len(LEAD_BYTES))
    not_characters = lead * (0.5 + 0.5 + 0.25 + 0.75)
    known_share = len(known) * (1 + SMOOTHING) / (len(known) + SMOOTHING * len(LEAD_BYTES))
    assert probs[unknown].sum() == pytest.approx((1 - not_characters - known_share) / (1 - known_share), rel=1e-9)
    assert probs[unknown].sum() <= 1


def test_spelling_learnt_from_a_vocabulary_sums_to_at_most_one():
    spelling = Spelling("分开不我的爱想要和你飞到宇宙去 abcXYZ,.!é😀")
    probs = np.exp(spelling.log_probs(ALL_CHARACTERS))
    unknown = ~np.isin(code_points(ALL_CHARACTERS), code_points("分开不我的爱想要和你飞到宇宙去 abcXYZ,.!é😀"))
    assert 0.95 < probs[unknown].sum() <= 1
    # Characters like the known ones (CJK, three bytes from the same lead bytes) cost less than others.
    assert spelling.log_probs("分")[0] > spelling.log_probs("\u0a05")[0]


def test_a_character_the_class_set_names_costs_nothing_extra():
    spelling = Spelling("abcdef")
    text = "abXcYd"
    unseen = np.array([c not in "abcdef" for c in text])
    costs = spelling.static_costs(text, unseen)
    assert costs.shape == (len(text) - 1,)  # the scored characters, text[1:]
    np.testing.assert_array_equal(costs == 0, ~unseen[1:])
    np.testing.assert_allclose(costs[[1, 3]], -spelling.log_probs("XY"))
    assert np.all(spelling.adaptive_costs(text, unseen)[~unseen[1:]] == 0)


def test_the_adaptive_cache_makes_a_repeated_unseen_character_cheaper():
    spelling = Spelling("abc")
    text = "aQbQcQaR"
    unseen = np.array([c not in "abc" for c in text])
    static, adaptive = spelling.static_costs(text, unseen), spelling.adaptive_costs(text, unseen)
    q = [0, 2, 4]  # Q's scored positions (text[1:])
    assert adaptive[q[0]] == pytest.approx(static[q[0]])  # the first unseen character: no escape yet
    assert adaptive[q[1]] < static[q[1]] / 2 and adaptive[q[2]] < adaptive[q[1]]
    # The third Q: read twice of 2, (2 - d) / (2 + a); R, new: escape (a + d) / (3 + a), base excluding Q.
    assert adaptive[q[2]] == pytest.approx(-math.log((2 - DISCOUNT) / (2 + CONCENTRATION)))
    base_r, base_q = np.exp(spelling.log_probs("RQ"))
    assert adaptive[6] == pytest.approx(-math.log((CONCENTRATION + DISCOUNT) / (3 + CONCENTRATION) * base_r / (1 - base_q)))


def test_the_cache_learns_from_the_first_character_though_it_is_not_scored():
    spelling = Spelling("abc")
    unseen = np.array([True, False, True])
    after_q = spelling.adaptive_costs("QaQ", unseen)
    assert after_q[0] == 0 and after_q[1] == pytest.approx(-math.log((1 - DISCOUNT) / (1 + CONCENTRATION)))
    assert spelling.static_costs("QaQ", unseen)[1] == pytest.approx(-spelling.log_probs("Q")[0])


def test_the_cache_is_a_proper_distribution_after_any_history():
    spelling = Spelling("abc")
    history = "QRQSQR"
    cached = sorted(set(history))
    unseen = np.r_[False, np.ones(len(history) + 1, bool)]  # "a" is known
    probs = {c: math.exp(-spelling.adaptive_costs("a" + history + c, unseen)[-1])
             for c in cached + ["T"]}
    base_t = math.exp(spelling.log_probs("T")[0])
    escape = probs["T"] / (base_t / (1 - np.exp(spelling.log_probs(cached)).sum()))
    assert sum(probs[c] for c in cached) + escape == pytest.approx(1.0)


def test_a_later_character_never_changes_an_earlier_cost():
    spelling = Spelling("abc")
    text, changed = "aQbRQcSQ", "aQbRQcSZ"
    unseen = np.array([c not in "abc" for c in text])
    np.testing.assert_array_equal(spelling.adaptive_costs(text, unseen)[:-1], spelling.adaptive_costs(changed, unseen)[:-1])


def test_bits_per_character_averages_over_the_unseen_ones():
    assert bits_per_character(np.array([0.0, 2 * math.log(2), 0.0, 4 * math.log(2)]),
                              np.array([False, True, False, True])) == pytest.approx(3.0)
    assert bits_per_character(np.zeros(3), np.zeros(3, bool)) is None
