import numpy as np
import pytest

from charlm import generation
from charlm.generation import SIGNATURE, Controls, Generator, choose, next_character_probabilities
from charlm.model import ModelConfig, build_model
from charlm.tf_runtime import graph_function, make_deterministic, tf
from charlm.vocab import UNK, UNK_ID, build_vocabulary
from conftest import VERSE


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
    cut_off = graph_function(lambda x, k: generation._at_least_kth_largest(x, k), jit_compile=True)
    for k in [1, 2, 5, 10, 15, 46]:
        expected = rows >= tf.math.top_k(rows, k).values[:, -1:].numpy()
        np.testing.assert_array_equal(cut_off(tf.constant(rows), tf.constant(k)).numpy(), expected)


def test_xla_draws_follow_temperature_and_top_k():
    logits = tf.constant([[5.0, 0.0, 1.0, 2.0, 3.0]] * 4000)
    compiled = graph_function(lambda t, k: choose(logits, t, k, tf.constant([1, 2], tf.int64), xla=True), jit_compile=True)
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
    module.generate = graph_function(lambda *args: generation.continuation_ids(model, *args), input_signature=SIGNATURE)
    tf.saved_model.save(module, str(tmp_path / "exported"))
    loaded = tf.saved_model.load(str(tmp_path / "exported"))
    args = (tf.constant(vocab.encode("分开")), tf.constant(12), tf.constant(0.0), tf.constant(0), tf.constant(0, tf.int64),
            tf.constant(1))
    assert "分开" + vocab.decode(loaded.generate(*args).numpy()[0].tolist()) == gen.continue_text("分开", 12)[0]


@pytest.mark.parametrize("xla", [True, False])
def test_boundary_draws_never_pick_an_id_of_weight_zero(xla):
    invert = graph_function(generation.invert_cumulative, jit_compile=xla)
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
    draw = graph_function(lambda seed: tf.random.stateless_uniform([64, 1], seed, alg="threefry"), jit_compile=True)
    seed = tf.constant([61, 1814], tf.int64)
    assert draw(seed).numpy()[30, 0] == 0.0
    logits = tf.constant(np.random.default_rng(0).normal(size=(64, 50)), tf.float32)
    chosen = graph_function(lambda: choose(logits, tf.constant(0.8), tf.constant(10), seed, xla=True), jit_compile=True)()
    assert UNK_ID not in chosen.numpy().tolist()
    top_ten = tf.math.top_k(logits[30, 1:], 10).indices.numpy() + 1
    assert chosen.numpy()[30] in top_ten


# What the loop wrote for the tiny model below before the sampling controls existed (recorded on
# an AMD EPYC): {xla: {case: continuations of 分开}}, the cases' (length, temperature, top_k, seed,
# num_samples) in RECORDED_SETTINGS. The tests below use the same shapes (length 30, 1 or 2
# samples, a window of 1 or 10), so that XLA compiles few loops.
RECORDED_SETTINGS = {"greedy": (30, 0.0, 0, 0, 1), "t1": (30, 1.0, 0, 7, 2), "t08k5": (30, 0.8, 5, 3, 2)}
BEFORE_THE_CONTROLS = {
    True: {"greedy": ["一" + "和" * 29],
           "t1": ["运一的起甜 化里每宙融爱想起每著里到让在去要一一宇飞让爱想甜",
                  "著让起里天我这爱宙命分相和这让命在让始飞天在不爱相 运的宇的"],
           "t08k5": ["一 去在去在去你蜜我飞每宇里在著著化和著 去在到不 去爱和 ",
                     "这在信信到一去宇融命你蜜飞每融起 始让让相命一著著著 在和到"]},
    False: {"greedy": ["一" + "和" * 29],
            "t1": ["起始要融化 分想你到飞每宇和运里著相化想开你里起蜜在甜运开和",
                   "要运去想命一甜运飞起化著天分蜜我始这蜜我开去我命在我宇里命一"],
            "t08k5": ["一和想和 信开一 和去每融每融飞起飞 在在和 去你化样这融每",
                      "一 始信一开相和 著和到样样分这著在和想 一著和 去一和到样"]},
}
WINDOW = 10  # of the 35 characters the tiny model can write


@pytest.fixture(scope="module")
def verse_model():
    """An untrained model over the 36 characters of VERSE (the one the recorded texts came from)."""
    make_deterministic(0)
    vocab = build_vocabulary(VERSE)
    model = build_model(ModelConfig(vocab.size, "embedding", 8, "gru", 8, 1, 0.0, 0.0, False, vocab.fingerprint()))
    return model, vocab, {xla: Generator(model, vocab, jit_compile=xla) for xla in (True, False)}


def _with_controls(gen, vocab, prefix, length, temperature, top_k, seed, num_samples, controls):
    """The loop with the controls, called even when they are all off (`continue_text` takes the
    loop without them then)."""
    ids = gen.continuation_ids_with_controls(
        tf.constant(vocab.encode(prefix), tf.int32), tf.constant(length), tf.constant(temperature, tf.float32),
        tf.constant(top_k), tf.constant(seed, tf.int64), tf.constant(num_samples), *controls.tensors())
    return [prefix + vocab.decode(row) for row in ids.numpy().tolist()]


@pytest.mark.parametrize("xla", [True, False])
def test_with_the_controls_off_the_loop_writes_what_it_wrote_before_they_existed(verse_model, xla):
    _, vocab, generators = verse_model
    gen = generators[xla]
    for case, (length, temperature, top_k, seed, num_samples) in RECORDED_SETTINGS.items():
        expected = ["分开" + text for text in BEFORE_THE_CONTROLS[xla][case]]
        assert gen.continue_text("分开", length, temperature, top_k, seed, num_samples) == expected, case
        neutral = _with_controls(gen, vocab, "分开", length, temperature, top_k, seed, num_samples, Controls())
        assert neutral == expected, case
    # A window without a penalty, and a penalty without a window, are off too.
    for controls in (Controls(repetition_window=WINDOW), Controls(repetition_penalty=3.0)):
        assert _with_controls(gen, vocab, "分开", 30, 1.0, 0, 7, 2, controls) == [
            "分开" + text for text in BEFORE_THE_CONTROLS[xla]["t1"]]
    assert "分开" + "".join(gen.stream_text("分开", 30)) == "分开" + BEFORE_THE_CONTROLS[xla]["greedy"][0]


@pytest.mark.parametrize("xla", [True, False])
def test_a_tiny_top_p_or_a_min_p_of_one_leaves_only_the_most_probable_character(verse_model, xla):
    _, _, generators = verse_model
    gen = generators[xla]
    greedy = gen.continue_text("分开", 30)
    for controls in (Controls(top_p=1e-6), Controls(min_p=1.0), Controls(top_p=1e-6, min_p=1.0)):
        assert gen.continue_text("分开", 30, 1.0, 0, 3, 2, controls) == greedy * 2, controls
    # Off, the same sampler writes something else.
    assert gen.continue_text("分开", 30, 1.0, 0, 3, 2) != greedy * 2


@pytest.mark.parametrize("xla", [True, False])
def test_draws_follow_top_p_and_min_p(xla):
    # After <unk> (id 0) is masked out, the probabilities of ids 1-4 are about .032 .087 .237 .644.
    logits = tf.constant([[5.0, 0.0, 1.0, 2.0, 3.0]] * 4000)
    seed = tf.constant([1, 2], tf.int64)
    draw = graph_function(lambda top_p, min_p: choose(logits, tf.constant(1.0), tf.constant(0), seed, xla, top_p, min_p),
                       jit_compile=xla)
    p = np.exp([0.0, 1.0, 2.0, 3.0]) / np.exp([0.0, 1.0, 2.0, 3.0]).sum()

    def frequencies(top_p, min_p):
        return np.bincount(draw(tf.constant(top_p), tf.constant(min_p)).numpy(), minlength=5) / 4000

    def restricted_to(ids):
        expected = np.zeros(5)
        expected[ids] = p[np.array(ids) - 1] / p[np.array(ids) - 1].sum()
        return expected

    np.testing.assert_allclose(frequencies(1.0, 0.0), [0, *p], atol=0.03)           # both off
    np.testing.assert_allclose(frequencies(0.7, 0.0), restricted_to([3, 4]), atol=0.03)  # .644 < .7 <= .881
    assert frequencies(0.6, 0.0).tolist() == [0, 0, 0, 0, 1]                         # .644 >= .6 alone
    np.testing.assert_allclose(frequencies(0.9, 0.0), restricted_to([2, 3, 4]), atol=0.03)
    np.testing.assert_allclose(frequencies(1.0, 0.3), restricted_to([3, 4]), atol=0.03)  # >= .3 x .644 = .193
    np.testing.assert_allclose(frequencies(1.0, 0.1), restricted_to([2, 3, 4]), atol=0.03)
    np.testing.assert_allclose(frequencies(0.9, 0.3), restricted_to([3, 4]), atol=0.03)  # min-p after top-p
    assert frequencies(1.0, 1.0).tolist() == [0, 0, 0, 0, 1]


def test_both_nucleus_masks_equal_the_definition_with_ties_and_cut_off_ids():
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(8, 60)).astype(np.float32) * 2
    rows[:, :4] = -np.inf                 # masked out: weight 0
    rows[2, 10:20] = rows[2].max()         # ties at the top
    rows[3, 30:40] = np.float32(0.5)       # ties inside
    weights = np.exp(rows - rows.max(axis=1, keepdims=True))
    by_bisection = graph_function(generation._nucleus_by_bisection, jit_compile=True)
    for top_p in [1e-6, 0.1, 0.5, 0.9, 0.99, 1.0]:
        expected = np.zeros_like(weights, bool)
        for r, row in enumerate(weights.astype(np.float64)):
            ordered = np.sort(row)[::-1]
            needed = np.searchsorted(np.cumsum(ordered), top_p * row.sum() * (1 - 1e-9))  # first reaching it
            expected[r] = row >= ordered[needed]
        for mask in (by_bisection, generation._nucleus_by_sorting):
            # Ids of weight 0 are never drawn, in the mask or not (float32 sums may reach the total only with them).
            kept = mask(tf.constant(weights), tf.constant(top_p)).numpy() & (weights > 0)
            np.testing.assert_array_equal(kept, expected & (weights > 0), err_msg=f"top_p {top_p}")


@pytest.mark.parametrize("xla", [True, False])
def test_a_repetition_penalty_raises_a_repeated_characters_probability_to_its_power(xla):
    logits = tf.constant([[5.0, 0.0, 1.0, 2.0, 3.0]] * 4000)
    counts = tf.constant([[0, 0, 0, 0, 2]] * 4000)  # id 4, the most probable, is in the window (twice)
    draw = graph_function(lambda temperature, penalty: choose(
        logits, temperature, tf.constant(0), tf.constant([1, 2], tf.int64), xla, None, None, penalty, counts),
        jit_compile=xla)
    p = np.exp([0.0, 1.0, 2.0, 3.0]) / np.exp([0.0, 1.0, 2.0, 3.0]).sum()
    for penalty in [1.0, 2.0, 3.0]:
        penalised = p.copy()
        penalised[3] **= penalty
        frequencies = np.bincount(draw(tf.constant(1.0), tf.constant(penalty)).numpy(), minlength=5) / 4000
        np.testing.assert_allclose(frequencies, [0, *(penalised / penalised.sum())], atol=0.03, err_msg=penalty)
    # Greedy takes the argmax of the penalised distribution: .644 ** 2 = .41 still beats .237, ** 3 = .27
    # still does, ** 4 = .17 no longer does.
    assert set(draw(tf.constant(0.0), tf.constant(3.0)).numpy().tolist()) == {4}
    assert set(draw(tf.constant(0.0), tf.constant(4.0)).numpy().tolist()) == {3}


def stepwise_penalised_greedy(model, vocab, prefix, length, penalty, window):
    """Greedy with the repetition penalty the slow way: one model call per character from Python,
    the window read from the text itself, the penalty as the module's docstring defines it."""
    states, ids = model.initial_states(1), list(vocab.encode(prefix))
    for token in ids:
        logits, states = model(tf.constant([[token]]), states)
    for _ in range(length):
        scores = logits[0, -1].numpy().astype(np.float64)
        scores[UNK_ID] = -np.inf
        log_p = scores - np.log(np.exp(scores - scores.max()).sum()) - scores.max()
        recent = np.isin(np.arange(len(scores)), ids[-window:])
        ids.append(int(np.argmax(np.where(recent, scores + (penalty - 1) * log_p, scores))))
        logits, states = model(tf.constant([[ids[-1]]]), states)
    return vocab.decode(ids)


@pytest.mark.parametrize("xla", [True, False])
def test_the_penalised_window_is_the_last_characters_read_prefix_included(verse_model, xla):
    model, vocab, generators = verse_model
    controls = Controls(repetition_penalty=1.5, repetition_window=WINDOW)
    for prefix in ["分开", "想要和你飞到宇宙去 想要和你融化在一起"]:  # shorter than the window, and longer
        (text,) = generators[xla].continue_text(prefix, 30, controls=controls)
        assert text == stepwise_penalised_greedy(model, vocab, prefix, 30, 1.5, WINDOW), prefix
        assert text != generators[xla].continue_text(prefix, 30)[0]  # the penalty changed greedy's text


@pytest.mark.parametrize("xla", [True, False])
def test_a_huge_repetition_penalty_repeats_nothing_within_the_window(verse_model, xla):
    _, _, generators = verse_model
    controls = Controls(repetition_penalty=1e6, repetition_window=WINDOW)
    texts = (generators[xla].continue_text("分开", 30, controls=controls)
             + generators[xla].continue_text("分开", 30, 1.0, 0, 5, 2, controls))
    for text in texts:
        assert UNK not in text
        for i in range(len("分开"), len(text)):
            assert text[i] not in text[max(0, i - WINDOW):i], (text, i)


@pytest.mark.parametrize("xla", [True, False])
def test_streamed_text_equals_the_unstreamed_text(verse_model, xla):
    _, _, generators = verse_model
    gen = generators[xla]
    controls = Controls(top_p=0.8, min_p=0.05, repetition_penalty=1.5, repetition_window=WINDOW)
    for settings in [(0.0, 0, 0, Controls()), (0.9, 6, 11, Controls()), (0.9, 6, 11, controls), (0.0, 0, 0, controls)]:
        temperature, top_k, seed, chosen = settings
        (whole,) = gen.continue_text("分开", 30, temperature, top_k, seed, 1, chosen)
        for chunk in [7, generation.STREAM_CHUNK]:  # neither divides 30: the last chunk's surplus is dropped
            pieces = list(gen.stream_text("分开", 30, temperature, top_k, seed, chosen, chunk=chunk))
            assert [len(piece) for piece in pieces] == [chunk] * (30 // chunk) + [30 % chunk]
            assert "分开" + "".join(pieces) == whole, (settings, chunk)


@pytest.mark.parametrize("xla", [True, False])
def test_a_long_continuation_runs_in_chunks_and_writes_the_same_text(verse_model, xla, monkeypatch):
    # Above CHUNKED_ABOVE characters in all, the loop runs a chunk per call (so Ctrl-C ends it
    # between calls); lowered here, the chunked text must be the one-call text.
    _, _, generators = verse_model
    gen = generators[xla]
    controls = Controls(top_p=0.8, repetition_penalty=1.5, repetition_window=WINDOW)
    for settings in [(0.0, 0, 0, 1, Controls()), (0.9, 6, 11, 3, Controls()), (0.9, 6, 11, 3, controls)]:
        whole = gen.continue_text("分开", 30, *settings)
        monkeypatch.setattr(generation, "CHUNKED_ABOVE", 0)
        monkeypatch.setattr(generation, "CHUNK_CHARACTERS", 7 * settings[3])  # 7 steps a call; 30 is no multiple
        assert gen.continue_text("分开", 30, *settings) == whole, settings
        monkeypatch.undo()


def test_a_model_that_generated_and_read_adaptively_is_freed_with_its_compiled_functions():
    import gc
    import weakref

    from charlm.dynamic import DynamicEvaluator

    vocab = build_vocabulary(VERSE)
    model = build_model(ModelConfig(vocab.size, "embedding", 8, "gru", 8, 1, 0.0, 0.0, False, vocab.fingerprint()))
    Generator(model, vocab).continue_text("分开", 3)
    reader = DynamicEvaluator(model, vocab.unk_share, segment=4, lr=0.1, decay=0.0)
    reader.measure_gradients(vocab.encode(VERSE))
    reader.read(vocab.encode("分开不分开"))
    gone = weakref.ref(model)
    del model, reader
    gc.collect()
    assert gone() is None  # its functions, kept with it, go with it
