import numpy as np
import pytest

from charlm.adaptive import AdaptiveModels, AdaptiveSettings, held_out_log_probs, split_scores
from charlm.interpolation import OnlineMixer, context_features
from charlm.model import ModelConfig, build_model
from charlm.scoring import open_vocabulary_figures
from charlm.spelling import CONCENTRATION, DISCOUNT, Spelling
from charlm.tf_runtime import make_deterministic

VOCAB = 7  # the network's ids; the class set here is the same with nothing folded
SETTINGS = AdaptiveSettings(ngram_order=4, ngram_discount=0.8, local_ngram_order=3, dynamic_segment=4,
                            dynamic_lr=0.5, dynamic_decay=0.01, dynamic_softening=1.0, mixer_lr=0.05)


@pytest.fixture(scope="module")
def model():
    make_deterministic(5)
    return build_model(ModelConfig(VOCAB, "embedding", 8, "gru", 8, 1, 0.0, 0.0, False, "x"))


def adaptive_log_probs(model, ids: dict) -> dict:
    # The class set equals the network's vocabulary here: nothing folded, <unk> its own class.
    models = AdaptiveModels(model, 1, VOCAB, ids["train"], ids["train"], SETTINGS)
    return held_out_log_probs(models, ids, ids)


def parts(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"train": rng.integers(1, VOCAB, 300), "valid": rng.integers(1, VOCAB, 40), "test": rng.integers(0, VOCAB, 40)}


def test_changing_a_character_leaves_every_earlier_score_unchanged(model):
    ids = parts(0)
    changed = {**ids, "test": ids["test"].copy()}
    changed["test"][20] = ids["test"][20] % (VOCAB - 1) + 1
    scores = [adaptive_log_probs(model, x) for x in (ids, changed)]
    for name in ("network", "ngram", "local_ngram", "mixture"):
        a, b = scores[0][name], scores[1][name]
        np.testing.assert_array_equal(a["valid"], b["valid"], err_msg=name)
        # test scores[i] is character i + 1 of the test part: 1..19 come before position 20.
        np.testing.assert_array_equal(a["test"][:19], b["test"][:19], err_msg=name)
        assert a["test"][19] != b["test"][19], name


def test_each_part_scores_its_characters_after_the_first(model):
    ids = parts(1)
    scores = adaptive_log_probs(model, ids)
    for name, by_part in scores.items():
        assert len(by_part["valid"]) == 39 and len(by_part["test"]) == 39, name
        assert np.all(by_part["valid"] < 0) and np.all(np.isfinite(by_part["test"])), name
    # The validation part read first does not change its own figure (nothing after it is seen).
    alone = adaptive_log_probs(model, {**ids, "test": ids["test"][:1]})
    np.testing.assert_array_equal(alone["ngram"]["valid"], scores["ngram"]["valid"])
    np.testing.assert_allclose(alone["network"]["valid"], scores["network"]["valid"], rtol=1e-6)


def test_split_scores_skip_the_first_character_of_each_part():
    stream = np.arange(9.0)  # scores of characters 1..9 of a 5 + 5 stream
    parts_ = split_scores(stream, 5)
    np.testing.assert_array_equal(parts_["valid"], [0, 1, 2, 3])
    np.testing.assert_array_equal(parts_["test"], [5, 6, 7, 8])


def test_the_mixer_learns_which_expert_to_trust_in_which_context():
    rng = np.random.default_rng(2)
    n = 2000
    context = rng.integers(0, 2, n)  # in context 0 expert A is right, in context 1 expert B
    good, bad = np.log(np.full(n, 0.6)), np.log(np.full(n, 0.05))
    a, b = np.where(context == 0, good, bad), np.where(context == 0, bad, good)
    features = np.column_stack([context == 0, context == 1]).astype(float)
    mixed = OnlineMixer(2, 2, lr=0.05).mix([a, b], features)
    assert mixed[-500:].mean() > np.log(0.55)           # near the right expert's 0.6
    assert mixed[:1].mean() == pytest.approx(np.log(0.325))  # starts from equal weights
    changed = a.copy()
    changed[1000] = np.log(0.9)
    np.testing.assert_array_equal(OnlineMixer(2, 2, lr=0.05).mix([changed, b], features)[:1000], mixed[:1000])


def test_context_features_are_one_hot_groups_known_before_the_character():
    contexts = np.array([[0, 5, 3], [3, 1, 1], [2, 100, 7]])
    features = context_features(contexts, order=4, entropies=np.array([0.5, 2.2, 9.0]))
    assert features.shape == (3, 4 + 7 + 1 + 8)
    np.testing.assert_array_equal(features[:, :4].argmax(axis=1), [0, 3, 2])   # context length
    assert features[0, 4:11].sum() == 0 and features[2, 4 + 6] == 1          # never seen; 100 -> 64+
    np.testing.assert_array_equal(features[:, 11], [0, 1, 0])                 # always one follower
    np.testing.assert_array_equal(features[:, 12:].argmax(axis=1), [0, 2, 7])  # entropy in nats


def test_open_vocabulary_figures_add_the_spelling_of_unseen_characters_to_every_model():
    texts = {"train": "abcabc", "valid": "abQab", "test": "aQbRc"}
    classes = {s: np.array([0 if c not in texts["train"] else 1 for c in text]) for s, text in texts.items()}
    closed = {s: {"network": np.full(4, np.log(0.5)), "ngram": np.full(4, np.log(0.25))} for s in ("valid", "test")}
    adaptive = {"network": {s: np.full(4, np.log(0.5)) for s in ("valid", "test")}}
    spelling = Spelling(texts["train"])
    figures = open_vocabulary_figures(closed, adaptive, spelling, texts, classes)
    assert figures["unseen"] == {"valid": 1, "test": 2}
    q, r = -spelling.log_probs("QR")
    assert figures["perplexity"]["valid"] == pytest.approx(2 * np.exp(q / 4), rel=1e-4)
    assert figures["ngram"]["test"] == pytest.approx(4 * np.exp((q + r) / 4), rel=1e-4)
    assert "mixture" not in figures
    # Adaptive: Q was read in validation, so test pays the cache's price for it, not its spelling.
    q_again = -np.log((1 - DISCOUNT) / (1 + CONCENTRATION))
    r_new = -np.log((CONCENTRATION + DISCOUNT) / (2 + CONCENTRATION)) + r + np.log1p(-np.exp(-q))
    assert figures["adaptive"]["network"]["test"] == pytest.approx(2 * np.exp((q_again + r_new) / 4), rel=1e-4)
    assert figures["spelling_bits"]["static"]["test"] == pytest.approx((q + r) / 2 / np.log(2), abs=1e-4)
    assert figures["spelling_bits"]["adaptive"]["valid"] == figures["spelling_bits"]["static"]["valid"]
