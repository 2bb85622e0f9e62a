import numpy as np
import pytest

from charlm import generation
from charlm.generation import SIGNATURE, Generator, choose, next_character_probabilities
from charlm.model import ModelConfig, build_model
from charlm.tf_runtime import make_deterministic, tf
from charlm.vocab import UNK, UNK_ID, build_vocabulary


def generator(cell="gru", input="embedding"):
    make_deterministic(3)
    vocab = build_vocabulary("分开不我的爱你想要")
    model = build_model(ModelConfig(vocab.size, input, 8, cell, 16, 2, 0.0, 0.0, False, "x"))
    return Generator(model, vocab), model, vocab


def stepwise_greedy(model, vocab, prefix, length):
    """Greedy continuation the slow way: the model called on one character at a time from Python."""
    states, ids = model.initial_states(1), list(vocab.encode(prefix))
    for token in ids:
        logits, states = model(tf.constant([[token]]), states)
    out = []
    for _ in range(length):
        scores = logits[0, -1].numpy()
        scores[UNK_ID] = -np.inf
        out.append(int(np.argmax(scores)))
        logits, states = model(tf.constant([[out[-1]]]), states)
    return prefix + vocab.decode(out)


@pytest.mark.parametrize("cell, input", [("gru", "embedding"), ("gru", "one_hot"), ("lstm", "embedding")])
def test_greedy_equals_one_call_per_character_and_never_emits_unk(cell, input):
    gen, model, vocab = generator(cell, input)
    (text,) = gen.continue_text("分开", 30)
    assert text == stepwise_greedy(model, vocab, "分开", 30)
    assert len(text) == 32 and UNK not in text


def test_sampling_is_reproducible_from_its_seed_alone():
    gen, _, _ = generator()
    a = gen.continue_text("分开", 40, temperature=1.0, seed=7, num_samples=3)
    tf.random.uniform([5])  # global random state must not matter
    assert a == gen.continue_text("分开", 40, temperature=1.0, seed=7, num_samples=3)
    assert a != gen.continue_text("分开", 40, temperature=1.0, seed=8, num_samples=3)
    assert len(set(a)) == 3 and all(UNK not in text for text in a)


def test_top_k_of_one_is_greedy():
    gen, _, _ = generator()
    assert gen.continue_text("不", 20, temperature=0.5, top_k=1, seed=1, num_samples=2) == gen.continue_text("不", 20) * 2


def test_draws_follow_temperature_and_top_k():
    logits = tf.constant([[5.0, 0.0, 1.0, 2.0, 3.0]] * 4000)  # id 0 (<unk>) has the largest logit
    def draws(temperature, top_k):
        return np.bincount(choose(logits, tf.constant(temperature), tf.constant(top_k), tf.constant([1, 2], tf.int64)),
                           minlength=5) / 4000
    assert draws(0.0, 0).tolist() == [0, 0, 0, 0, 1]
    expected = np.exp([0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(draws(1.0, 0)[1:], expected / expected.sum(), atol=0.03)
    top_two = draws(1.0, 2)
    assert top_two[:3].sum() == 0
    np.testing.assert_allclose(top_two[3:], expected[2:] / expected[2:].sum(), atol=0.03)


def test_next_character_probabilities_match_the_first_greedy_choice():
    gen, model, vocab = generator()
    probs = next_character_probabilities(model, tf.constant(vocab.encode("分开"))).numpy()
    assert probs[UNK_ID] == 0 and probs.sum() == pytest.approx(1.0, abs=1e-5)
    (text,) = gen.continue_text("分开", 1)
    assert vocab.decode([int(np.argmax(probs))]) == text[-1]


def test_unknown_prefix_characters_are_read_as_unk():
    gen, _, _ = generator()
    assert gen.unknown_characters("分开吗呢") == ["吗", "呢"]
    assert gen.continue_text("吗呢", 5)[0].startswith("吗呢")


def test_graph_mode_and_xla_loops_agree_on_greedy_and_both_sample_reproducibly():
    make_deterministic(3)
    vocab = build_vocabulary("分开不我的爱你想要")
    model = build_model(ModelConfig(vocab.size, "embedding", 8, "gru", 16, 1, 0.0, 0.0, False, "x"))
    xla, graph = Generator(model, vocab), Generator(model, vocab, jit_compile=False)
    assert xla.continue_text("分开", 30) == graph.continue_text("分开", 30)
    for gen in (xla, graph):
        a = gen.continue_text("不", 30, temperature=1.0, top_k=4, seed=5, num_samples=2)
        assert a == gen.continue_text("不", 30, temperature=1.0, top_k=4, seed=5, num_samples=2)
        assert a != gen.continue_text("不", 30, temperature=1.0, top_k=4, seed=6, num_samples=2)


def test_xla_top_k_cut_off_equals_top_k_with_ties_and_minus_infinity():
    rows = np.random.default_rng(0).normal(size=(6, 50)).astype(np.float32)
    rows[:, :3] = -np.inf
    rows[1, 10:20] = 2.5   # ties at the cut-off
    rows[2] = -rows[2]
    cut_off = tf.function(lambda x, k: generation._at_least_kth_largest(x, k), jit_compile=True)
    for k in [1, 2, 5, 10, 15, 46]:
        expected = rows >= tf.math.top_k(rows, k).values[:, -1:].numpy()
        np.testing.assert_array_equal(cut_off(tf.constant(rows), tf.constant(k)).numpy(), expected)


def test_xla_draws_follow_temperature_and_top_k():
    logits = tf.constant([[5.0, 0.0, 1.0, 2.0, 3.0]] * 4000)
    compiled = tf.function(lambda t, k: choose(logits, t, k, tf.constant([1, 2], tf.int64), xla=True), jit_compile=True)
    def draws(temperature, top_k):
        return np.bincount(compiled(tf.constant(temperature), tf.constant(top_k)), minlength=5) / 4000
    assert draws(0.0, 0).tolist() == [0, 0, 0, 0, 1]
    expected = np.exp(np.array([0.0, 1.0, 2.0, 3.0]) / 0.5)
    np.testing.assert_allclose(draws(0.5, 0)[1:], expected / expected.sum(), atol=0.03)
    top_two = draws(0.5, 2)
    assert top_two[:3].sum() == 0
    np.testing.assert_allclose(top_two[3:], expected[2:] / expected[2:].sum(), atol=0.03)


def test_a_saved_model_signature_wraps_the_compiled_loop(tmp_path):
    gen, model, vocab = generator()
    module = tf.Module()
    module.weights = [w.value for w in model.weights]  # the tf.Variables; a Keras model is saved otherwise
    module.generate = tf.function(lambda *args: generation.continuation_ids(model, *args), input_signature=SIGNATURE)
    tf.saved_model.save(module, str(tmp_path / "exported"))
    loaded = tf.saved_model.load(str(tmp_path / "exported"))
    args = (tf.constant(vocab.encode("分开")), tf.constant(12), tf.constant(0.0), tf.constant(0), tf.constant(0, tf.int64),
            tf.constant(1))
    assert "分开" + vocab.decode(loaded.generate(*args).numpy()[0].tolist()) == gen.continue_text("分开", 12)[0]


@pytest.mark.parametrize("xla", [True, False])
def test_boundary_draws_never_pick_an_id_of_weight_zero(xla):
    invert = tf.function(generation.invert_cumulative, jit_compile=xla)
    # id 0 (<unk>, masked out) and ids cut off by top-k carry weight 0, at the start, inside and at the end.
    weights = tf.constant([[0.0, 0.0, 1.0, 0.0, 2.0, 0.0]] * 6)
    below_one = float(np.nextafter(np.float32(1), np.float32(0)))
    uniform = tf.constant([[0.0], [1e-30], [1 / 3 - 1e-7], [1 / 3 + 1e-7], [below_one], [1.0]])
    assert invert(weights, uniform).numpy().tolist() == [2, 2, 2, 4, 4, 4]
    # A single id of positive weight is chosen whatever the draw.
    only = tf.constant([[0.0, 0.0, 0.0, 3.0]] * 3)
    assert invert(only, tf.constant([[0.0], [0.5], [below_one]])).numpy().tolist() == [3, 3, 3]


def test_the_draw_of_exactly_zero_seen_in_the_wild_does_not_emit_unk():
    # Under XLA, the ThreeFry uniform of seed (61, 1814) is exactly 0.0 in row 30 of 64: the draw
    # that once made `charlm generate 分开 --num-samples 64 --length 1815 --seed 61` end in <unk>.
    draw = tf.function(lambda seed: tf.random.stateless_uniform([64, 1], seed, alg="threefry"), jit_compile=True)
    seed = tf.constant([61, 1814], tf.int64)
    assert draw(seed).numpy()[30, 0] == 0.0
    logits = tf.constant(np.random.default_rng(0).normal(size=(64, 50)), tf.float32)
    chosen = tf.function(lambda: choose(logits, tf.constant(0.8), tf.constant(10), seed, xla=True), jit_compile=True)()
    assert UNK_ID not in chosen.numpy().tolist()
    top_ten = tf.math.top_k(logits[30, 1:], 10).indices.numpy() + 1
    assert chosen.numpy()[30] in top_ten
