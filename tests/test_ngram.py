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


def reference_prob(documents: list[list[int]], vocab_size: int, order: int, discount: float,
                   history: tuple[int, ...], token: int) -> float:
    """Interpolated Kneser-Ney from its definition, counting the documents from scratch."""
    def count(n: int, gram: tuple[int, ...]) -> int:
        if n == order:  # raw count
            return sum(tuple(doc[i:i + n]) == gram for doc in documents for i in range(len(doc) - n + 1))
        lefts = {(doc[i - 1] if i else None) for doc in documents for i in range(len(doc) - n + 1)
                 if tuple(doc[i:i + n]) == gram}
        return len(lefts)

    def prob(h: tuple[int, ...], n: int) -> float:
        if n == 0:
            return 1.0 / vocab_size
        lower = prob(h[1:], n - 1)
        followers = [count(n, h + (w,)) for w in range(vocab_size)]
        total = sum(followers)
        if total == 0:
            return lower
        types = sum(c > 0 for c in followers)
        return (max(followers[token] - discount, 0) + discount * types * lower) / total

    h = tuple(history[-(order - 1):]) if order > 1 else ()
    return prob(h, len(h) + 1)


@pytest.mark.parametrize("order", [1, 2, 4])
def test_adaptive_scores_follow_from_the_definition(order):
    rng = np.random.default_rng(order)
    train, read = [list(rng.integers(1, 4, 40)), list(rng.integers(0, 5, 25))]
    model = KneserNey(np.array(train), vocab_size=5, order=order, discount=0.7)
    log_probs = model.target_log_probs(np.array(read), adapt=True)
    expected = [math.log(reference_prob([train, read[:t]], 5, order, 0.7, tuple(read[max(0, t - order + 1):t]), read[t]))
                for t in range(1, len(read))]
    np.testing.assert_allclose(log_probs, expected, rtol=1e-12)


def test_incremental_counts_equal_counts_rebuilt_from_scratch():
    rng = np.random.default_rng(3)
    ids = rng.integers(0, 6, 500)
    incremental = KneserNey(ids[:200], vocab_size=6, order=5, discount=0.8)
    incremental.target_log_probs(ids[200:], adapt=True)
    rebuilt = KneserNey(ids[:200], vocab_size=6, order=5, discount=0.8)
    rebuilt.add_document(ids[200:])
    # Both documents counted one character at a time, none of them built as the train arrays.
    scratch = KneserNey(np.array([], dtype=int), vocab_size=6, order=5, discount=0.8)
    for doc in (ids[:200], ids[200:]):
        scratch.add_document(doc)
    for model in (rebuilt, scratch):
        assert model.count_tables() == incremental.count_tables()
    # The train arrays hold what counting the train text one character at a time gives.
    counted = KneserNey(np.array([], dtype=int), vocab_size=6, order=5, discount=0.8)
    counted.add_document(ids[:200])
    assert counted.count_tables() == KneserNey(ids[:200], vocab_size=6, order=5, discount=0.8).count_tables()


def test_static_scoring_leaves_the_counts_alone(bigram):
    before = bigram.count_tables()
    bigram.target_log_probs(np.array([B, B, B, A]))
    assert bigram.count_tables() == before


def test_static_and_adaptive_scoring_agree_with_one_scalar_path():
    # The static scores are vectorised over positions; `prob` scores one position; after an
    # adaptive reading, static scores include what was read.
    rng = np.random.default_rng(5)
    model = KneserNey(rng.integers(0, 5, 300), vocab_size=5, order=4, discount=0.8)
    read = rng.integers(0, 5, 50)
    for _ in range(2):
        expected = [math.log(model.prob(tuple(read[max(0, t - 3):t]), read[t])) for t in range(1, len(read))]
        np.testing.assert_allclose(model.target_log_probs(read), expected, rtol=1e-12)
        model.add_document(rng.integers(0, 5, 80))


def test_changing_a_character_leaves_every_earlier_score_unchanged():
    rng = np.random.default_rng(4)
    train, read = rng.integers(0, 5, 100), rng.integers(0, 5, 60)
    changed = read.copy()
    changed[30] = (read[30] + 1) % 5
    scores = [KneserNey(train, 5, 4, 0.8).target_log_probs(r, adapt=True) for r in (read, changed)]
    # log_probs[i] scores character i + 1: characters 1..29 come before position 30.
    np.testing.assert_array_equal(scores[0][:29], scores[1][:29])
    assert scores[0][29] != scores[1][29]


def test_longest_context_reports_how_much_history_was_seen():
    model = KneserNey(np.array([A, B, A, B, UNK]), vocab_size=3, order=3, discount=0.5)
    assert model.longest_context((A, B)) == (2, 2, 2)      # "ab" was followed by a and by <unk>
    assert model.longest_context((B, A)) == (2, 1, 1)      # "ba" was followed once, by b
    assert model.longest_context((UNK, A)) == (1, 2, 1)    # "ua" never seen; "a" followed by b (two left contexts)
    assert model.longest_context((UNK, UNK))[0] == 0


@pytest.mark.parametrize("order", [1, 2, 4])
def test_next_distributions_give_probs_distribution_for_every_row(order):
    # What a sampler reads: one row per history, every id at once, as `prob` gives each, before and
    # after an adaptive reading has added counts; rows shorter than the order back off as a document's start.
    rng = np.random.default_rng(order)
    model = KneserNey(rng.integers(1, 5, 200), vocab_size=6, order=order, discount=0.7)
    for adapted in (False, True):
        if adapted:
            model.add_document(rng.integers(0, 6, 30))
        for length in (0, 1, order + 2):
            histories = rng.integers(0, 6, (5, length))
            rows = model.next_distributions(histories)
            expected = [[model.prob(tuple(h), w) for w in range(6)] for h in histories]
            np.testing.assert_allclose(rows, expected, rtol=1e-12)
            np.testing.assert_allclose(rows.sum(axis=1), 1.0)


def test_a_model_with_another_discount_shares_the_counts_and_scores_as_one_counted_anew():
    rng = np.random.default_rng(3)
    train, text = rng.integers(1, 6, 400), rng.integers(0, 6, 120)
    counted = KneserNey(train, vocab_size=6, order=4, discount=0.9)
    counted.read(text[:30], adapt=True)  # what the first model read is not carried over
    before = counted.target_log_probs(text)
    shared = counted.with_discount(0.6)
    anew = KneserNey(train, vocab_size=6, order=4, discount=0.6)
    assert all(a is b for a, b in zip(shared.grams[1:], counted.grams[1:]))
    np.testing.assert_array_equal(shared.target_log_probs(text), anew.target_log_probs(text))
    np.testing.assert_array_equal(shared.target_log_probs(text, adapt=True), anew.target_log_probs(text, adapt=True))
    # Reading with the second model leaves the first one's counts as they were.
    np.testing.assert_array_equal(counted.target_log_probs(text), before)


def test_a_long_text_is_scored_in_chunks_with_the_scores_of_one_call(monkeypatch):
    import charlm.ngram

    rng = np.random.default_rng(4)
    train, text = rng.integers(1, 5, 500), rng.integers(0, 5, 200)
    model = KneserNey(train, vocab_size=5, order=5, discount=0.7)
    model.read(text[:50], adapt=True)  # with adaptive counts too
    whole = model.read(text, adapt=False, with_contexts=True)
    monkeypatch.setattr(charlm.ngram, "SCORE_CHUNK", 3)  # shorter than the 4 characters a position reaches back
    chunked = model.read(text, adapt=False, with_contexts=True)
    np.testing.assert_array_equal(chunked[0], whole[0])
    np.testing.assert_array_equal(chunked[1], whole[1])


def test_counts_that_may_not_fit_in_memory_are_refused_before_counting_with_the_size_needed():
    from charlm.errors import UserError
    from charlm.ngram import check_counts_fit, counting_bytes

    needed = counting_bytes(90_000_000, [16])
    assert needed == 90_000_000 * (20 * 16 + 96)  # 37.4 GB
    check_counts_fit(90_000_000, [16, 16], available=needed)  # one order's counts, shared
    with pytest.raises(UserError) as error:
        check_counts_fit(90_000_000, [16, 12], available=20 * 10**9)
    assert str(error.value) == ("the n-gram counts (order 12, 16) of 90,000,000 train characters may need up to "
                                "59.0 GB and 20.0 GB of memory is available; lower evaluate.ngram_order and "
                                "evaluate.adaptive_ngram_order, or keep fewer characters with unzip.max_chars")
    check_counts_fit(90_000_000, [16], available=None)  # memory unknown: no check
