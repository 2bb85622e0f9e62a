import math

import numpy as np
import pytest

from charlm.dynamic import DynamicEvaluator
from charlm.evaluation import Scorer
from charlm.model import ModelConfig, build_model, get_weights
from charlm.tf_runtime import make_deterministic
from charlm.vocab import UNK_ID

VOCAB = 9


@pytest.fixture(scope="module")
def model():
    make_deterministic(2)
    return build_model(ModelConfig(VOCAB, "embedding", 8, "gru", 8, 1, 0.0, 0.0, False, "x"))


@pytest.fixture(scope="module")
def train_ids():
    return np.random.default_rng(0).integers(1, VOCAB, 400).astype(np.int32)


def evaluator(model, train_ids, lr, decay=0.01, segment=5):
    dynamic = DynamicEvaluator(model, unk_share=3, segment=segment, lr=lr, decay=decay)
    dynamic.measure_gradients(train_ids)
    return dynamic


def test_learning_rate_zero_equals_the_static_score(model, train_ids):
    ids = np.random.default_rng(1).integers(0, VOCAB, 203).astype(np.int32)
    ids[7] = UNK_ID
    static = Scorer(model, unk_share=3).target_log_probs(ids)
    np.testing.assert_allclose(evaluator(model, train_ids, lr=0.0).target_log_probs(ids), static, rtol=1e-5)


def test_reading_a_repeated_text_adapts_and_restores_the_weights(model, train_ids):
    phrase = np.array([1, 5, 2, 7, 3], np.int32)
    ids = np.tile(phrase, 30)
    before = get_weights(model)
    static = Scorer(model, unk_share=3).target_log_probs(ids)
    adaptive = evaluator(model, train_ids, lr=1.0, decay=0.0).target_log_probs(ids)
    # Later repeats are predicted far better once the model has read the earlier ones.
    assert adaptive[-40:].mean() > static[-40:].mean() + 0.5
    for a, b in zip(before, get_weights(model), strict=True):
        np.testing.assert_array_equal(a, b)


def test_changing_a_character_leaves_every_earlier_score_unchanged(model, train_ids):
    ids = np.random.default_rng(3).integers(1, VOCAB, 60).astype(np.int32)
    changed = ids.copy()
    changed[32] = ids[32] % (VOCAB - 1) + 1
    dynamic = evaluator(model, train_ids, lr=0.05)
    a, b = dynamic.target_log_probs(ids), dynamic.target_log_probs(changed)
    # log_probs[i] scores character i + 1; position 32 sits inside a 5-character segment.
    np.testing.assert_array_equal(a[:31], b[:31])
    assert not math.isclose(a[31], b[31])
    assert np.all(np.isfinite(a)) and len(a) == len(ids) - 1


def test_gradient_scale_is_normalised_to_mean_one(model, train_ids):
    rms = evaluator(model, train_ids, lr=0.1).rms
    total = sum(float(np.sum(r)) for r in rms)
    count = sum(int(np.size(r)) for r in rms)
    assert total / count == pytest.approx(1.0, rel=1e-5)


def test_adapted_weights_last_until_the_block_ends(model, train_ids):
    before = get_weights(model)
    dynamic = evaluator(model, train_ids, lr=0.5)
    with dynamic.adapting():
        dynamic.adapt(np.tile(np.array([1, 5, 2], np.int32), 10))
        assert any(not np.array_equal(a, b) for a, b in zip(before, get_weights(model)))
    for a, b in zip(before, get_weights(model), strict=True):
        np.testing.assert_array_equal(a, b)


def test_gradient_statistics_read_a_bounded_sample_spread_over_the_train_part():
    from charlm.dynamic import _as_windows

    ids = np.arange(10_001)
    # Unbounded: the streams laid end to end, as many windows as fit.
    inputs, targets = _as_windows(ids, streams=4, length=10)
    assert inputs.shape == (250, 4, 10) and inputs[0, :, 0].tolist() == [0, 2500, 5000, 7500]
    np.testing.assert_array_equal(targets, inputs + 1)
    # Bounded: the first windows of streams that start evenly over the text.
    inputs, targets = _as_windows(ids, streams=4, length=10, max_windows=3)
    assert inputs.shape == (3, 4, 10) and inputs[0, :, 0].tolist() == [0, 2500, 5000, 7500]
    assert inputs[:, 1].ravel().tolist() == list(range(2500, 2530))
    np.testing.assert_array_equal(targets, inputs + 1)


def test_a_train_part_within_the_bound_is_read_whole(model, train_ids):
    whole = DynamicEvaluator(model, unk_share=3, segment=5, lr=1.0, decay=0.0)
    whole.measure_gradients(train_ids)
    bounded = DynamicEvaluator(model, unk_share=3, segment=5, lr=1.0, decay=0.0)
    bounded.measure_gradients(train_ids, max_chars=len(train_ids))
    for a, b in zip(whole.rms, bounded.rms):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    sampled = DynamicEvaluator(model, unk_share=3, segment=5, lr=1.0, decay=0.0)
    sampled.measure_gradients(train_ids, max_chars=100)
    assert all(np.all(np.isfinite(r.numpy())) and np.all(r.numpy() >= 0) for r in sampled.rms)


def test_a_long_text_read_in_several_calls_gives_the_figures_and_weights_of_one(model, train_ids, monkeypatch):
    ids = np.random.default_rng(4).integers(0, VOCAB, 123).astype(np.int32)
    dynamic = evaluator(model, train_ids, lr=0.5, decay=0.05)

    def read_and_weights():
        told = []
        with dynamic.adapting():
            log_probs, entropies = dynamic.adapt(ids, told.append)
            return log_probs, entropies, get_weights(model), told

    whole = read_and_weights()
    monkeypatch.setattr("charlm.dynamic.CHUNK_SEGMENTS", 4)  # 25 segments: 7 calls, the last one shorter
    chunked = read_and_weights()
    for a, b in zip(whole[:2], chunked[:2]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(whole[2], chunked[2], strict=True):
        np.testing.assert_array_equal(a, b)
    assert whole[3] == [122] and chunked[3] == [20, 40, 60, 80, 100, 120, 122]
