"""The fast GRU layer against keras.layers.GRU (outputs and every gradient) and against autodiff
of the same loop (with recurrent dropout, which Keras applies differently)."""

import numpy as np

from charlm.gru import GRU, gru_loop
from charlm.tf_runtime import graph_function, keras, tf

BATCH, TIME, INPUT, UNITS = 3, 7, 5, 4


def loss_and_gradients(run, inputs, h0, weights):
    """A loss that uses every output state and the last state, and its gradients."""
    out_weights = tf.constant(np.random.default_rng(1).normal(size=(BATCH, TIME, UNITS)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch([inputs, h0])
        outputs, last = run(inputs, h0)
        loss = tf.reduce_sum(outputs * out_weights) + tf.reduce_sum(last ** 2)
    return outputs, last, tape.gradient(loss, [inputs, h0, *weights])


def random_inputs(seed=0):
    rng = np.random.default_rng(seed)
    return (tf.constant(rng.normal(size=(BATCH, TIME, INPUT)), tf.float32),
            tf.constant(rng.normal(size=(BATCH, UNITS)), tf.float32))


def test_outputs_and_gradients_equal_keras_gru():
    inputs, h0 = random_inputs()
    keras_gru = keras.layers.GRU(UNITS, return_sequences=True, return_state=True)
    ours = GRU(UNITS)
    keras_gru(inputs, initial_state=h0)
    ours(inputs, initial_state=[h0])
    rng = np.random.default_rng(2)  # non-zero biases, so the bias gradients are checked too
    for theirs, mine in zip(keras_gru.weights, ours.weights, strict=True):
        value = theirs.numpy() + rng.normal(scale=0.1, size=theirs.shape)
        theirs.assign(value)
        mine.assign(value)

    expected = loss_and_gradients(lambda x, h: keras_gru(x, initial_state=h), inputs, h0, keras_gru.weights)
    actual = loss_and_gradients(lambda x, h: ours(x, initial_state=[h]), inputs, h0, ours.weights)
    np.testing.assert_allclose(actual[0], expected[0], atol=1e-6)
    np.testing.assert_allclose(actual[1], expected[1], atol=1e-6)
    assert len(actual[2]) == 5  # inputs, h0, kernel, recurrent kernel, biases
    for mine, theirs in zip(actual[2], expected[2], strict=True):
        np.testing.assert_allclose(mine, theirs, atol=1e-5)


def plain_loop(projected, h0, recurrent_kernel, recurrent_bias, mask):
    """The same equations step by step, differentiated by autodiff."""
    h, states = h0, []
    for x in tf.unstack(projected):
        hz, hr, hc = tf.split(tf.matmul(h * mask, recurrent_kernel) + recurrent_bias, 3, axis=-1)
        xz, xr, xc = tf.split(x, 3, axis=-1)
        z, r = tf.sigmoid(xz + hz), tf.sigmoid(xr + hr)
        h = z * h + (1 - z) * tf.tanh(xc + r * hc)
        states.append(h)
    return tf.stack(states)


def test_hand_written_backward_equals_autodiff_with_a_dropout_mask():
    rng = np.random.default_rng(3)
    projected = tf.constant(rng.normal(size=(TIME, BATCH, 3 * UNITS)), tf.float32)
    h0 = tf.constant(rng.normal(size=(BATCH, UNITS)), tf.float32)
    kernel = tf.constant(rng.normal(scale=0.5, size=(UNITS, 3 * UNITS)), tf.float32)
    bias = tf.constant(rng.normal(size=(3 * UNITS,)), tf.float32)
    mask = tf.constant(rng.integers(2, size=(BATCH, UNITS)) * 2.0, tf.float32)  # dropout 0.5, kept units scaled
    out_weights = tf.constant(rng.normal(size=(TIME, BATCH, UNITS)), tf.float32)

    def gradients(loop):
        with tf.GradientTape() as tape:
            tape.watch([projected, h0, kernel, bias])
            states = loop(projected, h0, kernel, bias, mask)
            loss = tf.reduce_sum(states * out_weights)
        return states, tape.gradient(loss, [projected, h0, kernel, bias])

    (ours, our_grads), (theirs, their_grads) = gradients(gru_loop), gradients(plain_loop)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)
    for mine, expected in zip(our_grads, their_grads, strict=True):
        np.testing.assert_allclose(mine, expected, atol=1e-5)


def test_recurrent_dropout_acts_only_while_training():
    inputs, h0 = random_inputs()
    layer = GRU(UNITS, recurrent_dropout=0.5)
    plain = GRU(UNITS)
    layer(inputs, initial_state=[h0])
    plain(inputs, initial_state=[h0])
    for source, target in zip(layer.weights, plain.weights, strict=True):
        target.assign(source)
    np.testing.assert_array_equal(layer(inputs, initial_state=[h0])[0], plain(inputs, initial_state=[h0])[0])
    assert not np.allclose(layer(inputs, initial_state=[h0], training=True)[0], plain(inputs, initial_state=[h0])[0])


def test_compiles_with_xla_and_runs_any_length():
    layer = GRU(UNITS)
    step = graph_function(lambda x, h: layer(x, initial_state=[h]), jit_compile=True)
    for time in (1, 9):
        outputs, last = step(tf.ones((2, time, INPUT)), tf.zeros((2, UNITS)))
        assert outputs.shape == (2, time, UNITS)
        np.testing.assert_array_equal(outputs[:, -1], last)
