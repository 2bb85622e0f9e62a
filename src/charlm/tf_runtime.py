"""Import TensorFlow and Keras once, quietly, and make every run deterministic."""

import functools
import gc
import os


def _import_quietly():
    """TensorFlow's C++ start-up notices (oneDNN, missing CUDA) bypass TF_CPP_MIN_LOG_LEVEL and
    would bury each stage's own output, so stderr is closed while it imports and finds devices.
    A failing import still raises its Python exception once stderr is back."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras
        import tensorflow as tf

        tf.config.list_physical_devices()
        return keras, tf
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# Level 3 also hides C++ log lines at error level: oneDNN writes one there when an int32 op in the
# generation loop falls back to Eigen, which is a note, not an error (real failures still raise).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras, tf = _import_quietly()
# Importing TensorFlow leaves about 270,000 long-lived Python objects. Frozen, they are left out of
# the cyclic collector's full passes, which tracing a function triggers many times, and out of the
# collection at exit (about half a CPU-second per process: evaluate in the tests' tiny pipeline
# 5.4-6.7 -> 3.8-4.9 CPU-s; docs/speed.md#start-up).
gc.freeze()


# Every TensorFlow function of the project is traced without AutoGraph: its loops and conditions
# are written as tf.while_loop and tf.cond already, and AutoGraph's rewriting of the Python source
# was most of the first trace (a generate stage of the tests' tiny pipeline: 8.8-11.0 -> 7.2-7.3 CPU-s).
# A Python condition on a tensor fails loudly at tracing instead of being converted.
graph_function = functools.partial(tf.function, autograph=False)


def per_model(model, key: str, make):
    """`make()` run once per model and key (compiled functions that use the model's own
    variables), the result kept as long as the model lives. It is kept in the model's own
    attributes: in a module-level weak dictionary, a value that refers to its model would keep
    every model alive."""
    made = vars(model).setdefault("_charlm_per_model", {})  # plain attribute, not tracked by Keras
    if key not in made:
        made[key] = make()
    return made[key]


def make_deterministic(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow ops bit-reproducible."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


__all__ = ["keras", "tf", "graph_function", "make_deterministic", "per_model"]
