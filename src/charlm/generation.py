"""Continuations of a prefix in one compiled call: reading the prefix, the loop over new
characters and the choice of each (greedy, or sampled with temperature, top-k, top-p and min-p,
either with a repetition penalty) all run inside one TensorFlow function, for a batch of
continuations at once. The character loop, whose shapes are fixed, is compiled with XLA (1.1-2.8x
faster than graph mode in the benchmark); the prefix, whose length varies, is read in graph mode,
so XLA compiles once per number of samples, length and repetition window, not per prefix.

`continuation_ids` is TensorFlow only, over tensors, so a `tf.saved_model` signature wraps it
unchanged (`SIGNATURE` names its inputs; charlm.export does so). Its random draws are stateless, seeded from `seed` and
the step, so the same arguments give the same characters whatever ran before. `<unk>` is never
emitted. The stage and the command line call `Generator.continue_text`, which wraps it;
`Generator.stream_text` runs the same loop in chunks and gives the same characters.

How a character is chosen from the logits, in this order (`choose`; each control is off at its
neutral value, and with all of them off the choice is the one made before they existed):
1. `<unk>` is masked out.
2. Repetition penalty θ (1: off) over the last `repetition_window` characters (prefix and
   generated; 0: off): a character among them has its probability p raised to the power θ
   (its log-probability multiplied by θ) before renormalising. This is the rule of Hugging Face's
   `repetition_penalty` and llama.cpp's `repeat_penalty` (multiply a negative score by θ),
   applied to log-probabilities, where every score is negative, instead of to raw logits, whose
   zero is arbitrary: on raw logits, adding a constant to every logit (which changes nothing in
   the model's distribution) changes the penalty, and a repeated character's positive logit can
   only be pushed down to 0, so however large θ it may still beat the others. On
   log-probabilities a large enough θ rules repeats out whenever another character is possible.
   It applies to greedy decoding too.
3. Greedy (temperature 0): the argmax; the steps below apply to sampling only.
4. Temperature, then top-k (the k largest, ties at the k-th kept), then top-p (the smallest
   set of most probable characters whose probability sums to at least top_p, ties kept; 1:
   off), then min-p (the characters whose probability is at least min_p times the largest; 0:
   off), each over what the step before kept; then one draw.
"""

import functools
from dataclasses import dataclass

import numpy as np

from charlm.params import (MAX_GENERATE_LENGTH, MAX_PREFIX_LENGTH, MAX_REPETITION_PENALTY, MAX_REPETITION_WINDOW,
                           MAX_SAMPLES, NEUTRAL_CONTROLS)
from charlm.tf_runtime import graph_function, per_model, tf
from charlm.vocab import UNK_ID, Vocabulary

SIGNATURE = (
    tf.TensorSpec([None], tf.int32, name="prefix_ids"),   # 1 to MAX_PREFIX_LENGTH characters
    tf.TensorSpec([], tf.int32, name="length"),           # 1 to MAX_GENERATE_LENGTH
    tf.TensorSpec([], tf.float32, name="temperature"),    # 0: greedy (argmax)
    tf.TensorSpec([], tf.int32, name="top_k"),            # 0: the whole vocabulary
    tf.TensorSpec([], tf.int64, name="seed"),
    tf.TensorSpec([], tf.int32, name="num_samples"),      # 1 to MAX_SAMPLES
)
# The same, then the controls of `Controls` (charlm.export's `sample` signature takes them).
CONTROLS_SIGNATURE = (
    tf.TensorSpec([], tf.float32, name="top_p"),               # (0, 1]; 1: off
    tf.TensorSpec([], tf.float32, name="min_p"),               # [0, 1]; 0: off
    tf.TensorSpec([], tf.float32, name="repetition_penalty"),  # 1 to MAX_REPETITION_PENALTY; 1: off
    tf.TensorSpec([], tf.int32, name="repetition_window"),     # 0 to MAX_REPETITION_WINDOW; 0: off
)
# The SavedModel's `next_character` signature (charlm.export) wraps `next_character_probabilities`.
STREAM_CHUNK = 16  # characters per call of the loop when streaming (`Generator.stream_text`)
# A continuation of more characters than this in all (length x samples) runs in calls of about
# CHUNK_CHARACTERS each, so that Ctrl-C (which Python sees only between calls) ends it within one.
CHUNKED_ABOVE = 1_000_000
CHUNK_CHARACTERS = 65_536


@dataclass(frozen=True)
class Controls:
    """The sampling controls beyond temperature and top-k, each off at its default (see the
    module's docstring for what each does and in which order)."""
    top_p: float = NEUTRAL_CONTROLS["top_p"]
    min_p: float = NEUTRAL_CONTROLS["min_p"]
    repetition_penalty: float = NEUTRAL_CONTROLS["repetition_penalty"]
    repetition_window: int = NEUTRAL_CONTROLS["repetition_window"]

    def on(self) -> bool:
        return self != Controls()

    def tensors(self) -> tuple:
        return (tf.constant(self.top_p, tf.float32), tf.constant(self.min_p, tf.float32),
                tf.constant(self.repetition_penalty, tf.float32), tf.constant(self.repetition_window, tf.int32))


def check_arguments(prefix_ids, length=None, temperature=None, top_k=None, num_samples=None):
    """The arguments, once checked: each must lie in the range that `charlm generate` allows, so
    that a caller of the SavedModel cannot make the loop allocate without bound (a length of 2**31
    would ask for gigabytes). A value outside fails the call with an InvalidArgumentError that
    names the limit; the checks run before anything that depends on the arguments."""
    size = tf.size(prefix_ids)
    checks = [tf.debugging.assert_positive(size, message="the prefix must hold at least one character"),
              tf.debugging.assert_less_equal(size, MAX_PREFIX_LENGTH,
                                             message=f"the prefix must hold at most {MAX_PREFIX_LENGTH} characters")]
    if length is not None:
        checks += _in_range(length, 1, MAX_GENERATE_LENGTH, f"length must be from 1 to {MAX_GENERATE_LENGTH}")
    if num_samples is not None:
        checks += _in_range(num_samples, 1, MAX_SAMPLES, f"num_samples must be from 1 to {MAX_SAMPLES}")
    if top_k is not None:
        checks.append(tf.debugging.assert_non_negative(top_k, message="top_k must be >= 0 (0: the whole vocabulary)"))
    if temperature is not None:
        message = "temperature must be 0 (greedy) or a positive finite number"
        checks += [tf.debugging.assert_non_negative(temperature, message=message),
                   tf.debugging.assert_less_equal(temperature, tf.float32.max, message=message)]  # NaN fails too
    with tf.control_dependencies(checks):
        return [None if value is None else tf.identity(value)
                for value in (prefix_ids, length, temperature, top_k, num_samples)]


def check_controls(top_p, min_p, repetition_penalty, repetition_window):
    """The sampling controls, once checked as `check_arguments` checks the others (NaN fails every range)."""
    message = "top_p must be > 0 and <= 1 (1: off)"
    checks = [tf.debugging.assert_greater(top_p, 0.0, message=message),
              tf.debugging.assert_less_equal(top_p, 1.0, message=message),
              *_in_range(min_p, 0.0, 1.0, "min_p must be from 0 to 1 (0: off)"),
              *_in_range(repetition_penalty, 1.0, MAX_REPETITION_PENALTY,
                         f"repetition_penalty must be from 1 (off) to {MAX_REPETITION_PENALTY:g}"),
              *_in_range(repetition_window, 0, MAX_REPETITION_WINDOW,
                         f"repetition_window must be from 0 (off) to {MAX_REPETITION_WINDOW}")]
    with tf.control_dependencies(checks):
        return [tf.identity(value) for value in (top_p, min_p, repetition_penalty, repetition_window)]


def _in_range(value, low, high, message):
    return [tf.debugging.assert_greater_equal(value, low, message=message),
            tf.debugging.assert_less_equal(value, high, message=message)]


def read_prefix(model, prefix_ids, num_samples):
    """The logits of the character after the prefix [num_samples, vocab] and the states after it."""
    ids = tf.tile(prefix_ids[None], [num_samples, 1])
    logits, states = model(ids, model.initial_states(num_samples), training=False)
    return logits[:, -1], states


def next_character_probabilities(model, prefix_ids):
    """The distribution [vocab] of the character after the prefix, as generation sees it (no `<unk>`)."""
    prefix_ids, *_ = check_arguments(prefix_ids)
    logits, _ = read_prefix(model, prefix_ids, 1)
    return tf.nn.softmax(_without_unk(logits))[0]


def continuation_ids(model, prefix_ids, length, temperature, top_k, seed, num_samples, top_p=None, min_p=None,
                     repetition_penalty=None, repetition_window=None, xla=True):
    """`num_samples` continuations of the prefix, `length` ids each: [num_samples, length] int32.

    The prefix is read in the calling graph (its length varies); the character loop, whose shapes
    are fixed ([num_samples, vocab] logits, the states), runs under XLA when `xla`, so XLA compiles
    once per number of samples, length and repetition window, not per prefix. `xla=False`: the
    loop in graph mode. Without the controls (top_p, min_p, repetition_penalty and
    repetition_window all None) the loop is the one without them, which compiles faster; given,
    the one with them (those left None are off), which with all of them off chooses the same.
    Arguments outside `charlm generate`'s ranges fail the call (see `check_arguments`)."""
    controls = (top_p, min_p, repetition_penalty, repetition_window)
    with_controls = any(value is not None for value in controls)
    length, start = start_continuation(model, prefix_ids, length, temperature, top_k, seed, num_samples,
                                       *(neutral if value is None else value
                                         for value, neutral in zip(controls, NEUTRAL_CONTROLS.values())))
    ids, _ = continue_loop(model, start, 0, length, xla, with_controls)
    return ids


def start_continuation(model, prefix_ids, length, temperature, top_k, seed, num_samples, top_p, min_p,
                       repetition_penalty, repetition_window):
    """The length, checked, and everything the character loop needs before its first step, as one
    tuple that `continue_loop` takes and returns updated: the logits and states after the prefix,
    the repetition window (the last characters read, as a ring [window, num_samples] of ids, -1
    where the prefix was shorter, and their counts per character [num_samples, vocab]), and the
    settings, checked. The checks run before anything that depends on the arguments."""
    prefix_ids, length, temperature, top_k, num_samples = check_arguments(prefix_ids, length, temperature, top_k,
                                                                          num_samples)
    top_p, min_p, repetition_penalty, repetition_window = check_controls(
        *(tf.convert_to_tensor(value, spec.dtype) for value, spec in
          zip((top_p, min_p, repetition_penalty, repetition_window), CONTROLS_SIGNATURE)))
    logits, states = read_prefix(model, prefix_ids, num_samples)
    # A window of 0 turns the penalty off; the ring keeps one slot so that its shape stays valid.
    repetition_penalty = tf.where(repetition_window > 0, repetition_penalty, 1.0)
    size = tf.maximum(repetition_window, 1)
    last = tf.concat([tf.fill([size], -1), prefix_ids], 0)[-size:]   # slot j: x[len(prefix) - size + j]
    recent = tf.tile(last[:, None], [1, num_samples])
    counts = tf.tile(tf.reduce_sum(tf.one_hot(last, tf.shape(logits)[-1], dtype=tf.int32), 0)[None], [num_samples, 1])
    settings = (temperature, top_k, top_p, min_p, repetition_penalty, tf.cast(seed, tf.int64))
    return length, ((logits, states, recent, counts), settings)


def continue_loop(model, start, first_step, length, xla=True, with_controls=True):
    """`length` steps of the character loop from `start` (what `start_continuation` made, or the
    state a previous call returned), the first numbered `first_step`: the ids [num_samples, length]
    and the state after them. Step n draws from (seed, n), so the same steps run in one call or in
    several give the same characters. `with_controls=False`: the loop that leaves the controls out
    (they must be off)."""
    (logits, states, recent, counts), settings = start
    ids, logits, states, recent, counts = _compiled_loops(model)[bool(xla), bool(with_controls)](
        logits, states, recent, counts, tf.cast(first_step, tf.int32), tf.cast(length, tf.int32), *settings)
    return ids, ((logits, states, recent, counts), settings)


def _compiled_loops(model):
    """The character loop of `model` as TensorFlow functions, made once per model and keyed by
    (XLA or graph mode, with the sampling controls or without). The loop without them is the
    loop as it was before they existed: their checks cost nothing per step, nor their code any
    compile time (XLA compiles both sides of a condition), when they are off."""
    def loop_function(xla, with_controls):
        def loop(logits, states, recent, counts, first_step, length, temperature, top_k, top_p, min_p,
                 repetition_penalty, seed):
            def next_character(step, logits, states, chosen, *window):
                step_seed = tf.stack([seed, tf.cast(step, tf.int64)])
                if with_controls:
                    recent, counts = window
                    token = choose(logits, temperature, top_k, step_seed, xla, top_p, min_p, repetition_penalty, counts)
                    window = tf.cond(repetition_penalty > 1, lambda: _slide_window(recent, counts, token, step),
                                     lambda: (recent, counts))
                else:
                    token = choose(logits, temperature, top_k, step_seed, xla)
                logits, states = model.step(token, states)
                return step + 1, logits, states, chosen.write(step - first_step, token), *window

            # Without the controls, the window is left out of the loop and returned as it came.
            window = (recent, counts) if with_controls else ()
            start = (first_step, logits, states, tf.TensorArray(tf.int32, size=length, element_shape=[None]), *window)
            _, logits, states, chosen, *window = tf.while_loop(
                lambda step, *_: step < first_step + length, next_character, start)
            recent, counts = window if with_controls else (recent, counts)
            return tf.transpose(chosen.stack()), logits, states, recent, counts
        return graph_function(loop, jit_compile=xla)

    return per_model(model, "generation_loops", lambda: {(xla, controls): loop_function(xla, controls)
                                                        for xla in (True, False) for controls in (True, False)})


def _slide_window(recent, counts, token, step):
    """The window after `token` [batch] is read at step `step`: it takes the ring's slot
    step % window, whose id (read `window` characters before, or -1) leaves the counts. Scatters
    of one entry per row, so a step costs O(batch), not O(batch x window) or O(batch x vocab)."""
    slot = step % tf.shape(recent)[0]
    leaving = tf.gather(recent, slot)
    rows = tf.range(tf.shape(token)[0])
    counts = tf.tensor_scatter_nd_add(counts, tf.stack([rows, tf.maximum(leaving, 0)], 1),
                                      -tf.cast(leaving >= 0, tf.int32))
    counts = tf.tensor_scatter_nd_add(counts, tf.stack([rows, token], 1), tf.ones_like(token))
    return tf.tensor_scatter_nd_update(recent, [[slot]], token[None]), counts


def choose(logits, temperature, top_k, seed, xla=False, top_p=None, min_p=None, repetition_penalty=None, counts=None):
    """One id per row of logits [batch, vocab], as the module's docstring lists: argmax when
    temperature is 0, otherwise a draw from softmax(logits / temperature) restricted to the top_k
    largest (0: all), then to the top-p nucleus and to min-p; first, the characters whose `counts`
    [batch, vocab] are positive (the recent window) are penalised when repetition_penalty > 1.
    The controls left out (None) are off. `xla`: drawn with the ops that are fast under XLA (see
    `_draw_by_bisection`); the draws differ from graph mode's."""
    logits = _without_unk(logits)
    if repetition_penalty is not None and counts is not None:
        logits = tf.cond(repetition_penalty > 1, lambda: _penalized(logits, counts > 0, repetition_penalty),
                         lambda: logits)
    filtered = top_p is not None or min_p is not None
    top_p, min_p = (1.0 if top_p is None else top_p), (0.0 if min_p is None else min_p)

    def sampled():
        scaled = logits / temperature
        vocab = tf.shape(scaled)[-1]

        def top_k_only():
            keep = (_at_least_kth_largest(scaled, top_k) if xla
                    else scaled >= tf.math.top_k(scaled, top_k).values[:, -1:])
            return tf.where(keep, scaled, -float("inf"))

        scaled = tf.cond((top_k > 0) & (top_k < vocab), top_k_only, lambda: scaled)
        if filtered:
            scaled = tf.cond((top_p < 1) | (min_p > 0), lambda: _top_p_and_min_p(scaled, top_p, min_p, xla),
                             lambda: scaled)
        if xla:
            return _draw_by_bisection(scaled, seed)
        # Gumbel-max: the argmax of logits plus Gumbel noise is a draw from their softmax.
        uniform = tf.random.stateless_uniform(tf.shape(scaled), seed, minval=1e-20, maxval=1.0)
        return tf.argmax(scaled - tf.math.log(-tf.math.log(uniform)), axis=-1, output_type=tf.int32)

    return tf.cond(temperature > 0, sampled, lambda: tf.argmax(logits, axis=-1, output_type=tf.int32))


def _penalized(logits, repeated, penalty):
    """Logits under which a `repeated` character's probability p becomes p ** penalty (before
    renormalising) and the others' stay: its log-probability log p is multiplied by the penalty,
    here as logit + (penalty - 1) log p, which differs from penalty * log p by the same constant
    in every column. The most probable character's log p is at least -log(vocab), so with the
    penalty bounded (MAX_REPETITION_PENALTY) its logit stays finite; `<unk>` stays at -inf."""
    log_p = tf.nn.log_softmax(logits)
    return tf.where(repeated, logits + (penalty - 1) * log_p, logits)


def _top_p_and_min_p(scaled, top_p, min_p, xla):
    """`scaled` [batch, vocab] with -inf outside the top-p nucleus and below min-p. Both read the
    weights exp(scaled - max), the probabilities times one number per row whose largest is exactly 1,
    so min-p keeps the weights of at least min_p (min_p 1: the argmax and its ties)."""
    weights = tf.exp(scaled - tf.reduce_max(scaled, axis=-1, keepdims=True))
    nucleus = _nucleus_by_bisection if xla else _nucleus_by_sorting
    keep = tf.cond(top_p < 1, lambda: nucleus(weights, top_p), lambda: tf.ones_like(weights, tf.bool))
    return tf.where(keep & (weights >= min_p), scaled, -float("inf"))


def _nucleus_by_sorting(weights, top_p):
    """Where non-negative weights [batch, n] are at least the row's nucleus threshold: the weight
    at which the running total of the weights sorted largest first reaches top_p times the row's
    total, so the kept set is the smallest set of the most probable whose probability sums to at
    least top_p (ties at the threshold kept). For graph mode, where a sort is one fast kernel."""
    ordered = tf.sort(weights, axis=-1, direction="DESCENDING")
    before = tf.cumsum(ordered, axis=-1, exclusive=True)   # the mass of the weights larger than each
    needed = tf.reduce_sum(tf.cast(before < top_p * tf.reduce_sum(weights, -1, keepdims=True), tf.int32), -1)
    threshold = tf.gather(ordered, tf.maximum(needed, 1) - 1, axis=-1, batch_dims=1)
    return weights >= threshold[:, None]


def _nucleus_by_bisection(weights, top_p):
    """`_nucleus_by_sorting`'s mask, for XLA: the largest w such that the weights >= w sum to at
    least top_p times the row's total (the row's largest weight is exactly 1). XLA on CPU sorts a
    batch of rows 20 times slower than this (measured: 7.7 ms against 0.37 ms for 64 rows of
    1,027), so the threshold is found as `_at_least_kth_largest` finds the k-th largest: by
    bisection on the float's bits (non-negative floats order as their bits read as integers), one
    masked sum as a matrix product per pass."""
    ones = tf.ones([tf.shape(weights)[-1], 1], weights.dtype)
    target = top_p * tf.matmul(weights, ones)  # at most the total, which the weights >= 0 reach

    def halve(low, high):
        middle = low + (high - low + 1) // 2
        mass = tf.matmul(tf.where(weights >= tf.bitcast(middle, tf.float32), weights, 0), ones)
        enough = mass >= target
        return tf.where(enough, middle, low), tf.where(enough, high, middle - 1)

    low = tf.zeros_like(target, tf.int32)                       # mass(>= 0.0) >= target always holds
    high = tf.bitcast(tf.ones_like(target), tf.int32)           # the threshold is at most 1.0
    # [0, bits of 1.0 = 0x3F800000] halves each pass: 30 passes leave one key.
    low, _ = _passes(30, halve, low, high)
    return weights >= tf.bitcast(low, tf.float32)


def _draw_by_bisection(scaled, seed):
    """A draw from softmax(scaled) per row by inverting its cumulative sum at one uniform number
    (see `invert_cumulative`). Under XLA on a CPU, Gumbel-max's two logarithms per logit and its
    Philox bits cost 20 times more than this (one exponential per logit, one ThreeFry number per
    row, a dozen masked sums as matrix products)."""
    weights = tf.exp(scaled - tf.reduce_max(scaled, axis=-1, keepdims=True))  # 0 where cut off
    uniform = tf.random.stateless_uniform([tf.shape(weights)[0], 1], seed, alg="threefry")  # in [0, 1)
    return invert_cumulative(weights, uniform)


def invert_cumulative(weights, uniform):
    """Per row of non-negative `weights` [batch, vocab], the first id whose running total exceeds
    `uniform` [batch, 1] (in [0, 1)) times the row's total, found by bisection on the id.

    "Exceeds", not "reaches": a draw of exactly 0 must not pick a leading id of weight 0 (`<unk>`,
    masked out, is id 0), and an id of weight 0 never raises the total, so it is never the first
    to exceed it. The target is kept below the total, so that a draw rounding up to it still
    lands on the last id of positive weight."""
    vocab = tf.shape(weights)[-1]
    ids, ones = tf.range(vocab), tf.ones([vocab, 1], weights.dtype)
    total = tf.matmul(weights, ones)
    # Sums of non-negative weights in one fixed order never decrease as ids are added, and the
    # masked sum over every id is this same product, so the last positive id's total is `total`.
    target = tf.minimum(uniform * total, total * (1 - 2.0 ** -23))

    def halve(low, high):
        middle = (low + high) // 2
        exceeded = tf.matmul(tf.where(ids <= middle, weights, 0), ones) > target
        return tf.where(exceeded, low, middle + 1), tf.where(exceeded, middle, high)

    low, high = tf.zeros_like(target, tf.int32), tf.fill(tf.shape(target), vocab - 1)
    low, _ = tf.while_loop(lambda low, high: tf.reduce_any(low < high), halve, (low, high))
    return low[:, 0]


def _at_least_kth_largest(x, k):
    """Where x [batch, n] (float32, no NaN) is at least its row's k-th largest value: the mask of
    tf.math.top_k's k largest, ties at the k-th included. XLA has no top-k kernel for a k known only
    at run time (it sorts each row), so the k-th largest is found by bisection on the float's bits
    read as integers that sort as the floats do: 32 passes of compare-and-count over the row, exact.
    The counts are a matrix product with ones: XLA's CPU row sums run scalar, its products do not."""
    ones = tf.ones([tf.shape(x)[-1], 1], x.dtype)

    def halve(low, high):
        middle = low + (high - low + 1) // 2
        count = tf.matmul(tf.cast(x >= _from_sort_key(middle), x.dtype), ones)
        enough = count >= tf.cast(k, x.dtype)
        return tf.where(enough, middle, low), tf.where(enough, high, middle - 1)

    low = _sort_key(tf.reduce_min(x, axis=-1, keepdims=True))   # count(x >= low) >= k always holds
    high = _sort_key(tf.reduce_max(x, axis=-1, keepdims=True))  # the k-th largest is at most high
    low, _ = _passes(32, halve, low, high)  # [low, high] holds at most 2^32 keys and halves each pass
    return x >= _from_sort_key(low)


def _passes(count, halve, low, high):
    """`count` passes of a bisection step (low, high) -> (low, high), as a loop of a fixed trip
    count rather than unrolled: written out, the passes of the top-k and top-p bisections were
    a third of the operations a generation traces and XLA compiles, for the same results."""
    _, low, high = tf.while_loop(lambda i, low, high: i < count,
                                 lambda i, low, high: (i + 1, *halve(low, high)),
                                 (tf.constant(0), low, high), maximum_iterations=count)
    return low, high


def _sort_key(x):
    """float32 -> int64 in the same order (negative floats: a larger magnitude gives a smaller key)."""
    bits = tf.bitcast(x, tf.int32)
    return tf.cast(tf.where(bits < 0, bits ^ 0x7FFFFFFF, bits), tf.int64)


def _from_sort_key(key):
    bits = tf.cast(key, tf.int32)
    return tf.bitcast(tf.where(bits < 0, bits ^ 0x7FFFFFFF, bits), tf.float32)


def _without_unk(logits):
    return tf.where(tf.range(tf.shape(logits)[-1]) == UNK_ID, -float("inf"), logits)


class Generator:
    """Strings in, strings out, over the one compiled loop: under XLA by default, in graph mode
    with `jit_compile=False` (the same greedy text, other sampled text; see the README's Speed section)."""

    def __init__(self, model, vocab: Vocabulary, jit_compile: bool = True):
        self.model, self.vocab, self.jit_compile = model, vocab, jit_compile
        # Without the controls and with them: each traces and compiles only when first called.
        loop = functools.partial(continuation_ids, model, xla=jit_compile)
        self.continuation_ids = graph_function(loop, input_signature=SIGNATURE)
        self.continuation_ids_with_controls = graph_function(loop, input_signature=SIGNATURE + CONTROLS_SIGNATURE)
        self._start = graph_function(functools.partial(start_continuation, model),
                                     input_signature=SIGNATURE + CONTROLS_SIGNATURE)

    def unknown_characters(self, prefix: str) -> list[str]:
        known = set(self.vocab.tokens)
        return sorted({ch for ch in prefix if ch not in known})

    def continue_text(self, prefix: str, length: int, temperature: float = 0.0, top_k: int = 0, seed: int = 0,
                      num_samples: int = 1, controls: Controls = Controls()) -> list[str]:
        """`num_samples` strings, each `prefix` followed by `length` generated characters (unknown
        prefix characters are read as `<unk>`). Temperature 0 is greedy."""
        arguments = self._arguments(prefix, length, temperature, top_k, seed, num_samples)
        if length * num_samples > CHUNKED_ABOVE:
            rows = self._in_chunks(arguments, length, num_samples, controls)
        else:
            rows = (self.continuation_ids_with_controls(*arguments, *controls.tensors()) if controls.on()
                    else self.continuation_ids(*arguments)).numpy().tolist()
        return [prefix + self.vocab.decode(row) for row in rows]

    def _in_chunks(self, arguments, length: int, num_samples: int, controls: Controls) -> list[list[int]]:
        """The ids of `continue_text`'s rows, the loop run a chunk of steps per call as `stream_text`
        runs it (the same draws), so that a long generation can be interrupted between calls."""
        chunk = max(1, CHUNK_CHARACTERS // num_samples)
        _, start = self._start(*arguments, *controls.tensors())
        pieces = []
        for first in range(0, length, chunk):
            ids, start = continue_loop(self.model, start, first, chunk, self.jit_compile, controls.on())
            pieces.append(ids.numpy())
        return np.concatenate(pieces, axis=1)[:, :length].tolist()

    def stream_text(self, prefix: str, length: int, temperature: float = 0.0, top_k: int = 0, seed: int = 0,
                    controls: Controls = Controls(), chunk: int = STREAM_CHUNK):
        """The characters of `continue_text(prefix, length, ...)`'s one continuation (without the
        prefix), yielded `chunk` at a time as the loop makes them: the loop runs `chunk` steps per
        call, carrying its logits, states, window and step number from one call to the next, so
        the draws are the same. Every call runs a whole chunk (the last one's surplus is dropped),
        so that XLA compiles one length only."""
        length, start = self._start(*self._arguments(prefix, length, temperature, top_k, seed, 1), *controls.tensors())
        for first in range(0, int(length), chunk):
            ids, start = continue_loop(self.model, start, first, chunk, self.jit_compile, controls.on())
            yield self.vocab.decode(ids.numpy()[0, :int(length) - first].tolist())

    def _arguments(self, prefix, length, temperature, top_k, seed, num_samples):
        if not prefix:
            raise ValueError("the prefix must hold at least one character")
        return (tf.constant(self.vocab.encode(prefix), tf.int32), tf.constant(length, tf.int32),
                tf.constant(temperature, tf.float32), tf.constant(top_k, tf.int32), tf.constant(seed, tf.int64),
                tf.constant(num_samples, tf.int32))

