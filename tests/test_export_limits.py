"""The exported SavedModel bounds its arguments as `charlm generate` does: a length, top_k,
temperature, prefix or sampling control outside the command's ranges fails the call with an
InvalidArgumentError that names the limit (a length of 2**31 - 1 would ask for gigabytes), and
calls inside them work as before. Its `sample` signature takes the sampling controls and writes
what the library's loop writes."""

import re

import pytest

from charlm.export import export_model
from charlm.generation import Controls, Generator
from charlm.model import ModelConfig, build_model
from charlm.params import (MAX_GENERATE_LENGTH, MAX_PREFIX_LENGTH, MAX_REPETITION_PENALTY, MAX_REPETITION_WINDOW,
                           MAX_SAMPLES)
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


def _sample(saved, prefix="分开", length=30, temperature=0.0, top_k=0, seed=0, top_p=1.0, min_p=0.0,
            repetition_penalty=1.0, repetition_window=0):
    return saved.signatures["sample"](
        prefix=tf.constant(prefix), length=tf.constant(length), temperature=tf.constant(temperature, tf.float32),
        top_k=tf.constant(top_k), seed=tf.constant(seed, tf.int64), top_p=tf.constant(top_p, tf.float32),
        min_p=tf.constant(min_p, tf.float32), repetition_penalty=tf.constant(repetition_penalty, tf.float32),
        repetition_window=tf.constant(repetition_window))


def test_todays_signatures_take_todays_inputs(tiny):
    _, _, saved = tiny
    for name in ("serving_default", "continue"):
        assert set(saved.signatures[name].structured_input_signature[1]) == {"prefix", "length", "temperature",
                                                                            "top_k", "seed"}
    assert set(saved.signatures["sample"].structured_input_signature[1]) == {
        "prefix", "length", "temperature", "top_k", "seed", "top_p", "min_p", "repetition_penalty",
        "repetition_window"}


def test_sample_with_its_controls_off_writes_what_continue_writes(tiny):
    _, _, saved = tiny
    for settings in ({}, {"temperature": 0.8, "top_k": 5, "seed": 3}, {"temperature": 1.0, "seed": 7}):
        expected = _continue(saved, length=30, **settings)["text"].numpy().decode()
        assert _sample(saved, **settings)["text"].numpy().decode() == expected, settings


def test_sample_writes_what_the_library_writes_with_the_same_controls(tiny):
    model, vocab, saved = tiny
    generator = Generator(model, vocab)
    for temperature, top_k, seed, controls in [
            (0.9, 0, 5, Controls(top_p=0.5)),
            (0.9, 0, 5, Controls(min_p=0.985)),  # the untrained model is near uniform
            (1.0, 4, 2, Controls(0.9, 0.05, 1.5, 10)),
            (0.0, 0, 0, Controls(repetition_penalty=1e6, repetition_window=10))]:
        out = _sample(saved, temperature=temperature, top_k=top_k, seed=seed, top_p=controls.top_p,
                      min_p=controls.min_p, repetition_penalty=controls.repetition_penalty,
                      repetition_window=controls.repetition_window)
        text = out["text"].numpy().decode()
        assert [text] == generator.continue_text("分开", 30, temperature, top_k, seed, 1, controls), controls
        assert text != _continue(saved, length=30, temperature=temperature, top_k=top_k, seed=seed)["text"].numpy(
            ).decode(), controls


@pytest.mark.parametrize("kwargs, message", [
    ({"top_p": 0.0}, "top_p must be > 0 and <= 1"),
    ({"top_p": 1.5}, "top_p must be > 0 and <= 1"),
    ({"top_p": float("nan")}, "top_p must be > 0 and <= 1"),
    ({"min_p": -0.1}, "min_p must be from 0 to 1"),
    ({"min_p": 1.5}, "min_p must be from 0 to 1"),
    ({"min_p": float("nan")}, "min_p must be from 0 to 1"),
    ({"repetition_penalty": 0.5}, f"repetition_penalty must be from 1 (off) to {MAX_REPETITION_PENALTY:g}"),
    ({"repetition_penalty": 1e31}, f"repetition_penalty must be from 1 (off) to {MAX_REPETITION_PENALTY:g}"),
    ({"repetition_penalty": float("inf")}, f"repetition_penalty must be from 1 (off) to {MAX_REPETITION_PENALTY:g}"),
    ({"repetition_penalty": float("nan")}, f"repetition_penalty must be from 1 (off) to {MAX_REPETITION_PENALTY:g}"),
    ({"repetition_window": -1}, f"repetition_window must be from 0 (off) to {MAX_REPETITION_WINDOW}"),
    ({"repetition_window": 2**31 - 1}, f"repetition_window must be from 0 (off) to {MAX_REPETITION_WINDOW}"),
    ({"length": 2**31 - 1}, f"length must be from 1 to {MAX_GENERATE_LENGTH}"),
])
def test_sample_controls_outside_their_ranges_fail_naming_the_limit(tiny, kwargs, message):
    _, _, saved = tiny
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        _sample(saved, **kwargs)


def test_sample_takes_the_largest_controls(tiny):
    _, _, saved = tiny
    out = _sample(saved, length=5, temperature=0.8, top_p=1e-30, min_p=1.0, repetition_penalty=MAX_REPETITION_PENALTY,
                  repetition_window=MAX_REPETITION_WINDOW)
    assert len(out["continuation"].numpy().decode()) == 5
