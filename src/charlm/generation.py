"""Continuations of a prefix in one compiled call: reading the prefix, the loop over new
characters and the choice of each (greedy, or sampled with temperature and top-k) all run
inside one TensorFlow function, for a batch of continuations at once. The character loop, whose
shapes are fixed, is compiled with XLA (1.1-2.8x faster than graph mode in the benchmark); the
prefix, whose length varies, is read in graph mode, so XLA compiles once per number of samples
and length, not per prefix.

`continuation_ids` is TensorFlow only, over tensors, so a `tf.saved_model` signature wraps it
unchanged (`SIGNATURE` names its inputs; charlm.export does so). Its random draws are stateless, seeded from `seed` and
the step, so the same arguments give the same characters whatever ran before. `<unk>` is never
emitted. The stage and the command line call `Generator.continue_text`, which wraps it.
"""

import functools
import weakref

from charlm.params import MAX_GENERATE_LENGTH, MAX_PREFIX_LENGTH, MAX_SAMPLES
from charlm.tf_runtime import tf
from charlm.vocab import UNK_ID, Vocabulary

SIGNATURE = (
    tf.TensorSpec([None], tf.int32, name="prefix_ids"),   # 1 to MAX_PREFIX_LENGTH characters
    tf.TensorSpec([], tf.int32, name="length"),           # 1 to MAX_GENERATE_LENGTH
    tf.TensorSpec([], tf.float32, name="temperature"),    # 0: greedy (argmax)
    tf.TensorSpec([], tf.int32, name="top_k"),            # 0: the whole vocabulary
    tf.TensorSpec([], tf.int64, name="seed"),
    tf.TensorSpec([], tf.int32, name="num_samples"),      # 1 to MAX_SAMPLES
)
# The SavedModel's second signature (charlm.export) wraps `next_character_probabilities`.


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


def continuation_ids(model, prefix_ids, length, temperature, top_k, seed, num_samples, xla=True):
    """`num_samples` continuations of the prefix, `length` ids each: [num_samples, length] int32.

    The prefix is read in the calling graph (its length varies); the character loop, whose shapes
    are fixed ([num_samples, vocab] logits, the states), runs under XLA when `xla`, so XLA compiles
    once per number of samples and length, not per prefix. `xla=False`: the loop in graph mode.
    Arguments outside `charlm generate`'s ranges fail the call (see `check_arguments`)."""
    prefix_ids, length, temperature, top_k, num_samples = check_arguments(prefix_ids, length, temperature, top_k,
                                                                          num_samples)
    logits, states = read_prefix(model, prefix_ids, num_samples)
    loop = _compiled_loops(model)[bool(xla)]
    return loop(logits, states, length, temperature, top_k, tf.cast(seed, tf.int64))


def _compiled_loops(model):
    """The character loop of `model` as a TensorFlow function, {XLA: ..., graph mode: ...}, made once per model."""
    def loop_function(xla):
        def loop(logits, states, length, temperature, top_k, seed):
            def next_character(step, logits, states, chosen):
                token = choose(logits, temperature, top_k, tf.stack([seed, tf.cast(step, tf.int64)]), xla)
                logits, states = model.step(token, states)
                return step + 1, logits, states, chosen.write(step, token)

            start = (tf.constant(0), logits, states, tf.TensorArray(tf.int32, size=length, element_shape=[None]))
            chosen = tf.while_loop(lambda step, *_: step < length, next_character, start)[3]
            return tf.transpose(chosen.stack())
        return tf.function(loop, jit_compile=xla)

    if model not in _LOOPS:
        _LOOPS[model] = {xla: loop_function(xla) for xla in (True, False)}
    return _LOOPS[model]


_LOOPS = weakref.WeakKeyDictionary()


def choose(logits, temperature, top_k, seed, xla=False):
    """One id per row of logits [batch, vocab]: argmax when temperature is 0, otherwise a draw
    from softmax(logits / temperature) restricted to the top_k largest (0: all). `xla`: drawn with
    the ops that are fast under XLA (see `_draw_by_bisection`); the draws differ from graph mode's."""
    logits = _without_unk(logits)

    def sampled():
        scaled = logits / temperature
        vocab = tf.shape(scaled)[-1]

        def top_k_only():
            keep = (_at_least_kth_largest(scaled, top_k) if xla
                    else scaled >= tf.math.top_k(scaled, top_k).values[:, -1:])
            return tf.where(keep, scaled, -float("inf"))

        scaled = tf.cond((top_k > 0) & (top_k < vocab), top_k_only, lambda: scaled)
        if xla:
            return _draw_by_bisection(scaled, seed)
        # Gumbel-max: the argmax of logits plus Gumbel noise is a draw from their softmax.
        uniform = tf.random.stateless_uniform(tf.shape(scaled), seed, minval=1e-20, maxval=1.0)
        return tf.argmax(scaled - tf.math.log(-tf.math.log(uniform)), axis=-1, output_type=tf.int32)

    return tf.cond(temperature > 0, sampled, lambda: tf.argmax(logits, axis=-1, output_type=tf.int32))


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
    low = _sort_key(tf.reduce_min(x, axis=-1, keepdims=True))   # count(x >= low) >= k always holds
    high = _sort_key(tf.reduce_max(x, axis=-1, keepdims=True))  # the k-th largest is at most high
    ones = tf.ones([tf.shape(x)[-1], 1], x.dtype)
    for _ in range(32):  # [low, high] holds at most 2^32 keys and halves each pass
        middle = low + (high - low + 1) // 2
        count = tf.matmul(tf.cast(x >= _from_sort_key(middle), x.dtype), ones)
        enough = count >= tf.cast(k, x.dtype)
        low, high = tf.where(enough, middle, low), tf.where(enough, high, middle - 1)
    return x >= _from_sort_key(low)


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
        self.model, self.vocab = model, vocab
        self.continuation_ids = tf.function(functools.partial(continuation_ids, model, xla=jit_compile),
                                            input_signature=SIGNATURE)

    def unknown_characters(self, prefix: str) -> list[str]:
        known = set(self.vocab.tokens)
        return sorted({ch for ch in prefix if ch not in known})

    def continue_text(self, prefix: str, length: int, temperature: float = 0.0, top_k: int = 0, seed: int = 0,
                      num_samples: int = 1) -> list[str]:
        """`num_samples` strings, each `prefix` followed by `length` generated characters (unknown
        prefix characters are read as `<unk>`). Temperature 0 is greedy."""
        if not prefix:
            raise ValueError("the prefix must hold at least one character")
        ids = self.continuation_ids(tf.constant(self.vocab.encode(prefix), tf.int32), tf.constant(length, tf.int32),
                                    tf.constant(temperature, tf.float32), tf.constant(top_k, tf.int32),
                                    tf.constant(seed, tf.int64), tf.constant(num_samples, tf.int32))
        return [prefix + self.vocab.decode(row) for row in ids.numpy().tolist()]
