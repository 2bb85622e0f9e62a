import math
import warnings

import numpy as np
import pytest

from charlm.interpolation import fit_weight, mix
from charlm.ngram import KneserNey

A, B, UNK = 1, 2, 0


@pytest.fixture
def bigram():
    # Corpus "abab" over the classes <unk>, a, b; order 2, discount 0.5.
    return KneserNey(np.array([A, B, A, B]), vocab_size=3, order=2, discount=0.5)


def test_probabilities_match_the_hand_computation(bigram):
    # Continuation counts: a follows the start and b (2), b follows a only (1); 2 types, total 3.
    p1 = {A: (1.5 + 0.5 * 2 / 3) / 3, B: (0.5 + 0.5 * 2 / 3) / 3, UNK: (0.5 * 2 / 3) / 3}
    assert bigram.prob((), A) == pytest.approx(p1[A]) == pytest.approx(11 / 18)
    assert bigram.prob((), UNK) == pytest.approx(1 / 9)
    # Bigrams: ab twice, ba once.
    assert bigram.prob((A,), B) == pytest.approx((1.5 + 0.5 * p1[B]) / 2)
    assert bigram.prob((A,), A) == pytest.approx(0.5 * p1[A] / 2)
    assert bigram.prob((B,), A) == pytest.approx(0.5 + 0.5 * p1[A])
    assert bigram.prob((UNK,), A) == pytest.approx(p1[A])  # unseen history: back off entirely
    assert bigram.prob((B, A), B) == bigram.prob((A,), B)   # only the last order-1 characters count


@pytest.mark.parametrize("order", [1, 3, 5])
def test_every_history_gives_a_distribution(order):
    ids = np.random.default_rng(0).integers(1, 6, 300)
    model = KneserNey(ids, vocab_size=8, order=order, discount=0.8)
    for history in [(), tuple(ids[10:14]), (7, 7, 7, 7), (1,)]:
        assert sum(model.prob(history, w) for w in range(8)) == pytest.approx(1.0)


def test_target_log_probs_score_each_character_after_the_first(bigram):
    log_probs = bigram.target_log_probs(np.array([A, B, A]))
    np.testing.assert_allclose(log_probs, [math.log(bigram.prob((A,), B)), math.log(bigram.prob((B,), A))])


def test_mixture_weight_maximises_held_out_likelihood():
    rng = np.random.default_rng(1)
    a, b = np.log(rng.uniform(0.01, 1, 500)), np.log(rng.uniform(0.01, 1, 500))
    weight = fit_weight(a, b)
    best_on_grid = max(np.linspace(0.001, 0.999, 999), key=lambda w: mix(a, b, w).sum())
    assert weight == pytest.approx(best_on_grid, abs=2e-3)
    assert mix(a, b, weight).sum() >= max(a.sum(), b.sum())
    assert fit_weight(np.log(np.full(10, 0.9)), np.log(np.full(10, 0.1))) > 0.99


def test_a_weight_of_zero_or_one_is_one_model_alone_without_warnings():
    a, b = np.log([0.5, 0.25]), np.log([0.1, 0.2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(mix(a, b, 1.0), a)
        np.testing.assert_allclose(mix(a, b, 0.0), b)
