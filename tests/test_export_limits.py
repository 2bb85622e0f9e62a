"""The exported SavedModel bounds its arguments as `charlm generate` does: a length, top_k,
temperature or prefix outside the command's ranges fails the call with an InvalidArgumentError
that names the limit (a length of 2**31 - 1 would ask for gigabytes), and calls inside them
work as before."""

import pytest

from charlm.export import export_model
from charlm.generation import Generator
from charlm.model import ModelConfig, build_model
from charlm.params import MAX_GENERATE_LENGTH, MAX_PREFIX_LENGTH, MAX_SAMPLES
from charlm.tf_runtime import make_deterministic, tf
from charlm.vocab import build_vocabulary
from conftest import VERSE


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    make_deterministic(0)
    vocab = build_vocabulary(VERSE)
    model = build_model(ModelConfig(vocab.size, "embedding", 8, "gru", 8, 1, 0.0, 0.0, False, vocab.fingerprint()))
    folder = tmp_path_factory.mktemp("export") / "savedmodel"
    export_model(model, vocab, folder)
    return model, vocab, tf.saved_model.load(str(folder))


def _continue(saved, prefix="分开", length=5, temperature=0.0, top_k=0, seed=0):
    return saved.signatures["serving_default"](prefix=tf.constant(prefix), length=tf.constant(length),
                                               temperature=tf.constant(temperature, tf.float32),
                                               top_k=tf.constant(top_k), seed=tf.constant(seed, tf.int64))


def test_calls_inside_the_ranges_work_as_before(tiny):
    _, _, saved = tiny
    for kwargs in ({}, {"length": MAX_GENERATE_LENGTH}, {"temperature": 0.8, "top_k": 2**31 - 1, "seed": 2**63 - 1},
                   {"prefix": "分" * MAX_PREFIX_LENGTH, "length": 1}):
        out = _continue(saved, **kwargs)
        assert len(out["continuation"].numpy().decode()) == kwargs.get("length", 5)
    probabilities = saved.signatures["next_character"](prefix=tf.constant("分开"))["probabilities"]
    assert probabilities.shape[0] > 1


@pytest.mark.parametrize("kwargs, message", [
    ({"length": 2**31 - 1}, f"length must be from 1 to {MAX_GENERATE_LENGTH}"),
    ({"length": MAX_GENERATE_LENGTH + 1}, f"length must be from 1 to {MAX_GENERATE_LENGTH}"),
    ({"length": 0}, f"length must be from 1 to {MAX_GENERATE_LENGTH}"),
    ({"length": -5}, f"length must be from 1 to {MAX_GENERATE_LENGTH}"),
    ({"top_k": -1}, "top_k must be >= 0"),
    ({"temperature": -1.0}, "temperature must be 0 (greedy) or a positive finite number"),
    ({"temperature": float("nan")}, "temperature must be 0 (greedy) or a positive finite number"),
    ({"temperature": float("inf")}, "temperature must be 0 (greedy) or a positive finite number"),
    ({"prefix": ""}, "the prefix must hold at least one character"),
    ({"prefix": "分" * (MAX_PREFIX_LENGTH + 1)}, f"the prefix must hold at most {MAX_PREFIX_LENGTH} characters"),
])
def test_arguments_outside_the_ranges_fail_naming_the_limit(tiny, kwargs, message):
    _, _, saved = tiny
    with pytest.raises(tf.errors.InvalidArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _continue(saved, **kwargs)


def test_next_character_bounds_the_prefix(tiny):
    _, _, saved = tiny
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"at most {MAX_PREFIX_LENGTH} characters"):
        saved.signatures["next_character"](prefix=tf.constant("分" * (MAX_PREFIX_LENGTH + 1)))


def test_the_library_loop_bounds_the_number_of_samples(tiny):
    model, vocab, _ = tiny
    generator = Generator(model, vocab, jit_compile=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"num_samples must be from 1 to {MAX_SAMPLES}"):
        generator.continue_text("分开", 5, 1.0, 0, 0, num_samples=2**30)
