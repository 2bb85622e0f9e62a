import math

import numpy as np

from charlm.evaluation import SCORE_WINDOW, Scorer, perplexity
from charlm.model import ModelConfig, build_model
from charlm.tf_runtime import make_deterministic, tf
from charlm.vocab import UNK_ID


def test_scores_every_character_given_all_before_it_across_windows():
    make_deterministic(1)
    model = build_model(ModelConfig(9, "embedding", 4, "gru", 8, 1, 0.0, 0.0, False, "x"))
    ids = np.random.default_rng(0).integers(1, 9, SCORE_WINDOW + 40).astype(np.int32)
    ids[[5, SCORE_WINDOW + 10]] = UNK_ID
    log_probs = Scorer(model, unk_share=3).target_log_probs(ids)

    logits, _ = model(tf.constant(ids[None, :-1]), model.initial_states(1))
    expected = tf.nn.log_softmax(logits)[0].numpy()[np.arange(len(ids) - 1), ids[1:]]
    expected -= (ids[1:] == UNK_ID) * math.log(3)  # <unk> shared among 3 classes
    assert log_probs.shape == (len(ids) - 1,)
    np.testing.assert_allclose(log_probs, expected, rtol=1e-4, atol=1e-5)


def test_perplexity_of_uniform_guesses_is_the_class_count():
    assert abs(perplexity(np.full(10, -math.log(7))) - 7) < 1e-9
    assert perplexity(np.zeros(0)) is None
