"""The GRU layer of the model: Keras's GRU equations (reset gate after the recurrent product,
Keras's weight layout and initialisers), arranged for speed on a CPU.

Where the time goes in keras.layers.GRU here: every time step multiplies its input by the input
kernel, and autodiff of the time loop adds a small product per step for the recurrent kernel's
gradient. This layer projects the inputs of all time steps in one matrix product before the
loop, and its hand-written backward pass keeps only the state's gradient inside the loop; the
recurrent kernel's gradient is one matrix product over all steps after it.
tests/test_gru.py checks outputs and gradients against keras.layers.GRU and against autodiff.
"""

from charlm.tf_runtime import keras, tf


class GRU(keras.layers.Layer):
    """Sequence in, (all states, last state) out: `call(x, initial_state=[h0])` -> `[outputs, h_T]`,
    batch-major like keras.layers.GRU(return_sequences=True, return_state=True).

    `recurrent_dropout` drops units of the state where it enters the recurrent product while
    training, with one mask per sequence shared by the three gates (variational dropout; Keras
    draws one mask per gate).
    """

    def __init__(self, units: int, recurrent_dropout: float = 0.0, vocab_size: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.recurrent_dropout = recurrent_dropout
        # With a vocabulary size the layer reads character ids as one-hot input: a one-hot row
        # times the kernel is that row of the kernel, so it is looked up, never multiplied.
        self.vocab_size = vocab_size
        self.seed_generator = keras.random.SeedGenerator() if recurrent_dropout > 0 else None

    def build(self, input_shape):
        n = 3 * self.units  # update gate z, reset gate r, candidate c
        input_dim = self.vocab_size or input_shape[-1]
        self.kernel = self.add_weight(shape=(input_dim, n), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, n), initializer="orthogonal",
                                                name="recurrent_kernel")
        self.bias = self.add_weight(shape=(2, n), initializer="zeros", name="bias")  # input bias, recurrent bias

    def project(self, inputs, input_scale=None):
        """Inputs [..., input_dim] (or ids [...]) times the kernel plus the input bias: [..., 3 * units].
        `input_scale` [..., 1] multiplies each one-hot input (dropout on one-hot input)."""
        if self.vocab_size is None:
            return tf.matmul(inputs, self.kernel) + self.bias[0]
        rows = tf.gather(tf.convert_to_tensor(self.kernel), inputs)
        return (rows if input_scale is None else rows * input_scale) + self.bias[0]

    def call(self, inputs, initial_state, training=False, input_scale=None):
        (h0,) = initial_state
        if self.vocab_size is None:
            projected = tf.einsum("btd,dk->tbk", inputs, self.kernel) + self.bias[0]  # time-major for the loop
        else:
            projected = tf.transpose(self.project(inputs, input_scale), (1, 0, 2))
        mask = tf.ones_like(h0)
        if training and self.seed_generator is not None:
            mask = keras.random.dropout(mask, self.recurrent_dropout, seed=self.seed_generator)
        states = gru_loop(projected, h0, tf.convert_to_tensor(self.recurrent_kernel),
                          tf.convert_to_tensor(self.bias[1]), mask)
        return [tf.transpose(states, (1, 0, 2)), states[-1]]

    def step(self, projected, h):
        """One time step at inference, without the loop: projected inputs [batch, 3 * units] -> state."""
        return gru_cell(projected, h, self.recurrent_kernel, self.bias[1])[0]


def gru_cell(x, h, recurrent_kernel, recurrent_bias, mask=None):
    """The GRU's equations for one step (x: the projected input); returns h and the gates the
    backward pass needs (z, r, c and the candidate's recurrent part hc)."""
    hz, hr, hc = tf.split(tf.matmul(h if mask is None else h * mask, recurrent_kernel) + recurrent_bias, 3, axis=-1)
    xz, xr, xc = tf.split(x, 3, axis=-1)
    z = tf.sigmoid(xz + hz)
    r = tf.sigmoid(xr + hr)
    c = tf.tanh(xc + r * hc)
    return z * h + (1 - z) * c, z, r, c, hc


@tf.custom_gradient
def gru_loop(projected, h0, recurrent_kernel, recurrent_bias, mask):
    """The GRU's time loop over projected inputs [time, batch, 3 * units]; returns every state
    [time, batch, units]. `mask` [batch, units] multiplies the state entering the recurrent product."""

    def step(t, h, x, *saved):
        h, z, r, c, hc = gru_cell(x, h, recurrent_kernel, recurrent_bias, mask)
        # The next step's input is read here and carried: XLA emits scalar code for gate
        # arithmetic that reads a slice at a loop-dependent index, and takes twice as long.
        x_next = projected[tf.minimum(t + 1, steps - 1)]
        return (t + 1, h, x_next, *(array.write(t, value) for array, value in zip(saved, (h, z, r, c, hc))))

    steps = tf.shape(projected)[0]
    arrays = [tf.TensorArray(projected.dtype, size=steps) for _ in range(5)]
    loop = tf.while_loop(lambda t, *_: t < steps, step, (0, h0, projected[0], *arrays))
    states, z, r, c, hc = (array.stack() for array in loop[3:])
    previous = tf.concat([h0[None], states[:-1]], axis=0)

    def backward(d_states):
        def back_step(carry, saved):
            d_out, z_t, r_t, c_t, hc_t, h_previous = saved
            dh = d_out + carry[0]
            dz = dh * (h_previous - c_t) * z_t * (1 - z_t)
            dc = dh * (1 - z_t) * (1 - c_t * c_t)
            dr = dc * hc_t * r_t * (1 - r_t)
            d_recurrent = tf.concat([dz, dr, dc * r_t], axis=-1)  # gradient of h @ U + b
            dh_previous = dh * z_t + tf.matmul(d_recurrent, recurrent_kernel, transpose_b=True) * mask
            return dh_previous, tf.concat([dz, dr, dc], axis=-1), d_recurrent

        zeros_3 = tf.zeros_like(projected[0])
        dh, d_projected, d_recurrent = tf.scan(back_step, (d_states, z, r, c, hc, previous),
                                               initializer=(tf.zeros_like(h0), zeros_3, zeros_3), reverse=True)
        # The recurrent kernel's gradient summed over all steps at once, not step by step in the loop.
        units = recurrent_kernel.shape[0]
        d_kernel = tf.matmul(tf.reshape(previous * mask, (-1, units)), tf.reshape(d_recurrent, (-1, 3 * units)),
                             transpose_a=True)
        # dh[0] is the gradient of h0; the dropout mask is random, not learnt: no gradient.
        return d_projected, dh[0], d_kernel, tf.reduce_sum(d_recurrent, axis=(0, 1)), None

    return states, backward
