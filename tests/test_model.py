import numpy as np
import pytest

from charlm.errors import UserError
from charlm.gru import gru_loop
from charlm.model import CONFIG_FILE, WEIGHTS_FILE, ModelConfig, build_model, get_weights, load_model, save_model
from charlm.tf_runtime import make_deterministic, tf


def config(**overrides):
    values = dict(vocab_size=12, input="embedding", embedding_dim=4, cell="gru", hidden_size=8, num_layers=1,
                  dropout=0.0, recurrent_dropout=0.0, tie_embeddings=False,
                  vocab_fingerprint="abc")
    values.update(overrides)
    return ModelConfig(**values)


@pytest.mark.parametrize("cell, layers, states", [("gru", 1, 1), ("lstm", 2, 4), ("rnn", 2, 2)])
def test_logits_and_states_have_the_expected_shapes(cell, layers, states):
    model = build_model(config(cell=cell, num_layers=layers, input="one_hot"))
    logits, new_states = model(tf.zeros((3, 5), tf.int32), model.initial_states(3))
    assert logits.shape == (3, 5, 12)
    assert len(new_states) == states and all(s.shape == (3, 8) for s in new_states)


def test_carried_state_equals_one_long_sequence():
    model = build_model(config())
    ids = tf.constant([[1, 2, 3, 4, 5, 6]])
    whole, _ = model(ids, model.initial_states(1))
    first, states = model(ids[:, :3], model.initial_states(1))
    second, _ = model(ids[:, 3:], states)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-5, atol=1e-6)


def test_save_and_load_round_trip_byte_for_byte(tmp_path):
    make_deterministic(0)
    model = build_model(config(cell="lstm", num_layers=2))
    save_model(model, tmp_path / "a")
    loaded = load_model(tmp_path / "a", "abc")
    for a, b in zip(get_weights(model), get_weights(loaded), strict=True):
        np.testing.assert_array_equal(a, b)
    save_model(loaded, tmp_path / "b")
    assert (tmp_path / "a" / WEIGHTS_FILE).read_bytes() == (tmp_path / "b" / WEIGHTS_FILE).read_bytes()
    assert (tmp_path / "a" / CONFIG_FILE).read_bytes() == (tmp_path / "b" / CONFIG_FILE).read_bytes()


def test_load_rejects_missing_truncated_and_foreign_vocabulary(tmp_path):
    with pytest.raises(UserError, match="model file not found; run `dvc repro train`"):
        load_model(tmp_path, "abc")
    save_model(build_model(config()), tmp_path)
    with pytest.raises(UserError, match="trained with another vocabulary"):
        load_model(tmp_path, "other")
    weights = tmp_path / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(UserError, match="unreadable weights"):
        load_model(tmp_path, "abc")


def test_tied_embeddings_share_one_matrix_for_input_and_output(tmp_path):
    model = build_model(config(tie_embeddings=True, embedding_dim=8, recurrent_dropout=0.2))
    names = [v.path for v in model.weights]
    assert not any("logits" in name for name in names)  # no separate output matrix
    ids = tf.constant([[1, 2, 3]])
    logits, _ = model(ids, model.initial_states(1))
    model.embedding.embeddings.assign(model.embedding.embeddings * 2.0)
    changed, _ = model(ids, model.initial_states(1))
    assert not np.allclose(logits, changed)
    save_model(model, tmp_path)
    loaded = load_model(tmp_path, "abc")
    np.testing.assert_allclose(loaded(ids, loaded.initial_states(1))[0], changed, rtol=1e-6)


def test_one_hot_input_is_a_row_lookup_equal_to_the_one_hot_product():
    make_deterministic(0)
    model = build_model(config(input="one_hot", num_layers=2))
    ids = tf.constant([[1, 2, 3, 0, 11], [5, 5, 4, 7, 9]])
    states = [tf.random.normal((2, 8)) for _ in range(2)]
    gru = model.rnns[0]
    kernel, bias = gru.kernel.numpy(), gru.bias.numpy()
    one_hot = np.eye(12, dtype=np.float32)[ids.numpy()]
    np.testing.assert_array_equal(gru.project(ids), one_hot @ kernel + bias[0])
    # The whole forward pass, against the same layers fed the one-hot product.
    x, h = gru.call(ids, [states[0]])
    projected = tf.einsum("btd,dk->tbk", one_hot, gru.kernel) + gru.bias[0]
    expected = gru_loop(projected, states[0], tf.convert_to_tensor(gru.recurrent_kernel), gru.bias[1], tf.ones((2, 8)))
    np.testing.assert_array_equal(x, tf.transpose(expected, (1, 0, 2)))
    logits, _ = model(ids, states)
    step_logits, _ = model.step(ids[:, 0], states)
    np.testing.assert_allclose(step_logits, logits[:, 0], rtol=1e-5, atol=1e-6)
