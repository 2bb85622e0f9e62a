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

    def __init__(self, units: int, recurrent_dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.recurrent_dropout = recurrent_dropout
        self.seed_generator = keras.random.SeedGenerator() if recurrent_dropout > 0 else None

    def build(self, input_shape):
        n = 3 * self.units  # update gate z, reset gate r, candidate c
        self.kernel = self.add_weight(shape=(input_shape[-1], n), initializer="glorot_uniform", name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, n), initializer="orthogonal",
                                                name="recurrent_kernel")
        self.bias = self.add_weight(shape=(2, n), initializer="zeros", name="bias")  # input bias, recurrent bias

    def call(self, inputs, initial_state, training=False):
        (h0,) = initial_state
        projected = tf.einsum("btd,dk->tbk", inputs, self.kernel) + self.bias[0]  # time-major for the loop
        mask = tf.ones_like(h0)
        if training and self.seed_generator is not None:
            mask = keras.random.dropout(mask, self.recurrent_dropout, seed=self.seed_generator)
        states = gru_loop(projected, h0, tf.convert_to_tensor(self.recurrent_kernel),
                          tf.convert_to_tensor(self.bias[1]), mask)
        return [tf.transpose(states, (1, 0, 2)), states[-1]]


@tf.custom_gradient
def gru_loop(projected, h0, recurrent_kernel, recurrent_bias, mask):
    """The GRU's time loop over projected inputs [time, batch, 3 * units]; returns every state
    [time, batch, units]. `mask` [batch, units] multiplies the state entering the recurrent product."""

    def step(t, h, x, *saved):
        hz, hr, hc = tf.split(tf.matmul(h * mask, recurrent_kernel) + recurrent_bias, 3, axis=-1)
        xz, xr, xc = tf.split(x, 3, axis=-1)
        z = tf.sigmoid(xz + hz)
        r = tf.sigmoid(xr + hr)
        c = tf.tanh(xc + r * hc)
        h = z * h + (1 - z) * c
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
