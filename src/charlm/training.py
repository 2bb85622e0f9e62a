"""Training: a compiled step over consecutive windows, carrying the state within an epoch.

The state is passed into each window as a plain tensor, so gradients stop at the window's edge
(truncated back-propagation, as the book does). The weights of the epoch with the best
validation perplexity are kept (the last epoch's when there is no validation part).
"""

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from charlm.batching import consecutive_windows
from charlm.errors import UserError
from charlm.evaluation import Scorer, perplexity
from charlm.model import get_weights
from charlm.params import TrainParams
from charlm.tf_runtime import keras, tf


@dataclass
class EpochRecord:
    epoch: int
    train_perplexity: float
    valid_perplexity: float | None
    seconds: float
    chars_per_second: float


@dataclass
class TrainResult:
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    best_weights: list[np.ndarray] | None = None
    chars_trained: int = 0
    train_seconds: float = 0.0

    @property
    def best(self) -> EpochRecord:
        return self.history[self.best_epoch - 1]


def log_epoch(record: EpochRecord, epochs: int) -> None:
    valid = f"  valid ppl {record.valid_perplexity:9.3f}" if record.valid_perplexity is not None else ""
    print(f"epoch {record.epoch:>3}/{epochs}  train ppl {record.train_perplexity:9.3f}{valid}"
          f"  {record.seconds:6.2f} s  {record.chars_per_second:8,.0f} chars/s", file=sys.stderr, flush=True)


def train(model, train_ids: np.ndarray, valid_ids: np.ndarray, params: TrainParams, unk_share: int,
          on_epoch=log_epoch) -> TrainResult:
    optimizer = keras.optimizers.Adam(learning_rate=params.lr, global_clipnorm=params.clip_norm,
                                      weight_decay=params.weight_decay or None)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(jit_compile=True)
    def train_step(inputs, targets, states):
        with tf.GradientTape() as tape:
            logits, states = model(inputs, states, training=True)
            loss = loss_fn(targets, logits)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss, states

    scorer = Scorer(model, unk_share) if len(valid_ids) > 1 else None
    result = TrainResult()
    best_valid = math.inf
    epochs_since_best = 0
    for epoch in range(1, params.epochs + 1):
        offset = int(np.random.default_rng([params.seed, epoch]).integers(params.num_steps)) if params.random_offset else 0
        inputs, targets = consecutive_windows(train_ids, params.batch_size, params.num_steps, offset)
        start = time.perf_counter()
        states = model.initial_states(params.batch_size)
        losses = []
        for step in range(len(inputs)):
            loss, states = train_step(inputs[step], targets[step], states)
            losses.append(float(loss))
            if not math.isfinite(losses[-1]):
                raise UserError(f"training diverged: the loss became {losses[-1]} at epoch {epoch}, step {step + 1}; "
                                f"lower train.lr or train.clip_norm")
        seconds = time.perf_counter() - start
        chars = inputs.size
        result.chars_trained += chars
        result.train_seconds += seconds
        valid_ppl = perplexity(scorer.target_log_probs(valid_ids)) if scorer else None
        record = EpochRecord(epoch, float(np.exp(np.mean(losses))), valid_ppl, seconds, chars / seconds)
        result.history.append(record)
        on_epoch(record, params.epochs)
        if valid_ppl is None or valid_ppl < best_valid:
            best_valid = valid_ppl if valid_ppl is not None else best_valid
            result.best_epoch, result.best_weights = epoch, get_weights(model)
            epochs_since_best = 0
        else:
            epochs_since_best += 1
            if params.patience and epochs_since_best >= params.patience:
                break
    return result
