"""Where the training time goes: one compiled training step at the book's configuration (batch 32,
35 steps, 256 hidden, embedding input, 1,028 classes), built several ways, timed in one process.

Run with `python benchmarks/levers.py` (after `make setup`). Prints characters per second per variant
(median of rounds that alternate between the variants, so a noisy machine hurts them alike):

- keras GRU, no XLA: a TensorFlow function (graph mode) alone;
- keras GRU: the same with `jit_compile=True` (XLA), what the project used first;
- keras GRU, unrolled: the same with `unroll=True`;
- charlm GRU: the project's layer (`charlm.gru`), one input product, hand-written backward;
- charlm GRU, whole epoch: the same step looped over the windows inside one compiled call, as
  `charlm.training` runs it (no Python between windows).

Forward-only rows show how much of a step the backward pass takes. Every variant is traced
without AutoGraph, as the project's own functions are (`charlm.tf_runtime.graph_function`).
"""

import statistics
import sys
import time

import numpy as np

from charlm.gru import GRU
from charlm.tf_runtime import graph_function, keras, make_deterministic, tf

BATCH, STEPS, HIDDEN, CLASSES = 32, 35, 256, 1028
CALLS, ROUNDS, WINDOWS = 30, 7, 8


def build_step(layer: str, jit: bool, forward_only: bool = False, whole_epoch: bool = False):
    embedding = keras.layers.Embedding(CLASSES, HIDDEN)
    head = keras.layers.Dense(CLASSES)
    if layer == "charlm":
        rnn = GRU(HIDDEN)
        run_rnn = lambda x, h: rnn(x, initial_state=[h])  # noqa: E731
    else:
        rnn = keras.layers.GRU(HIDDEN, return_sequences=True, return_state=True, unroll=layer == "keras unrolled")
        run_rnn = lambda x, h: rnn(x, initial_state=h)  # noqa: E731
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam(0.01, global_clipnorm=1.0)

    def forward(inputs, targets, state):
        outputs, state = run_rnn(embedding(inputs), state)
        return loss_fn(targets, head(outputs)), state

    def train_step(inputs, targets, state):
        with tf.GradientTape() as tape:
            loss, state = forward(inputs, targets, state)
        variables = embedding.trainable_variables + rnn.trainable_variables + head.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, state

    def train_epoch(inputs, targets, state):  # WINDOWS windows of the same data, state carried
        def next_window(step, state, loss):
            return (step + 1, *train_step(inputs, targets, state)[::-1])

        return tf.while_loop(lambda step, *_: step < WINDOWS, next_window, (0, state, 0.0))[2], state

    return graph_function(forward if forward_only else train_epoch if whole_epoch else train_step, jit_compile=jit)


def main():
    make_deterministic(0)
    rng = np.random.default_rng(0)
    inputs, targets = (tf.constant(rng.integers(CLASSES, size=(BATCH, STEPS)), tf.int32) for _ in range(2))
    state = tf.zeros((BATCH, HIDDEN))
    variants = {
        "keras GRU, no XLA": build_step("keras", jit=False),
        "keras GRU, XLA": build_step("keras", jit=True),
        "keras GRU unrolled, XLA": build_step("keras unrolled", jit=True),
        "charlm GRU, XLA": build_step("charlm", jit=True),
        "charlm GRU, XLA, whole epoch": build_step("charlm", jit=True, whole_epoch=True),
        "keras GRU, XLA, forward only": build_step("keras", jit=True, forward_only=True),
        "charlm GRU, XLA, forward only": build_step("charlm", jit=True, forward_only=True),
    }
    for step in variants.values():  # trace and compile
        step(inputs, targets, state)[0].numpy()
    speeds = {name: [] for name in variants}
    for _ in range(ROUNDS):
        for name, step in variants.items():
            calls = CALLS // WINDOWS if "whole epoch" in name else CALLS
            windows = WINDOWS if "whole epoch" in name else 1
            start = time.perf_counter()
            for _ in range(calls):
                loss, _ = step(inputs, targets, state)
            loss.numpy()
            speeds[name].append(calls * windows * BATCH * STEPS / (time.perf_counter() - start))
    width = max(map(len, variants))
    for name, runs in speeds.items():
        print(f"{name:<{width}}  {statistics.median(runs):9,.0f} chars/s", file=sys.stdout)


if __name__ == "__main__":
    main()
