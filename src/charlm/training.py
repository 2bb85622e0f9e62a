"""Training: one compiled call per epoch over consecutive windows, carrying the state within it.

The state is passed into each window as a plain tensor, so gradients stop at the window's edge
(truncated back-propagation, as the book does). The weights of the epoch with the best
validation perplexity are kept (the last epoch's when there is no validation part). With a
checkpoint, every epoch ends with one, and a rerun with the same params resumes from it. Under a
tf.distribute strategy (charlm.distribute) the same loop runs one call per window instead.
"""

import time
from dataclasses import dataclass

import numpy as np

from charlm import distribute
from charlm.batching import consecutive_windows, epoch_offsets, windows_per_epoch
from charlm.cli import say
from charlm.errors import UserError
from charlm.evaluation import Scorer, perplexity
from charlm.model import get_weights
from charlm.params import TrainParams
from charlm.tf_runtime import graph_function, keras, tf
from charlm.vocab import UNK_ID


@dataclass
class TrainResult:
    history: list[dict]        # per epoch: epoch, lr, train_perplexity, valid_perplexity (reproducible)
    best_epoch: int
    best_weights: list[np.ndarray]
    chars_trained: int         # in this process (a resumed run counts only its own epochs)
    train_seconds: float

    @property
    def best(self) -> dict:
        return self.history[self.best_epoch - 1]


def log_epoch(row: dict, epochs: int, seconds: float, chars_per_second: float) -> None:
    valid = row["valid_perplexity"]
    valid_text = f"  valid ppl {valid:9.3f}" if valid is not None else ""
    say(f"epoch {row['epoch']:>3}/{epochs}  train ppl {row['train_perplexity']:9.3f}{valid_text}"
        f"  {seconds:6.2f} s  {chars_per_second:8,.0f} chars/s")


def log_progress(epoch: int, epochs: int, window: int, windows: int, running_perplexity: float,
                 chars_per_second: float) -> None:
    """Within an epoch split by train.checkpoint_windows (after the part's checkpoint)."""
    say(f"epoch {epoch:>3}/{epochs}  window {window:,}/{windows:,}  running train ppl {running_perplexity:9.3f}"
        f"  {chars_per_second:8,.0f} chars/s")


def make_optimizer(params: TrainParams):
    """Adam, or plain SGD as the book trains (lr 100 with the gradient's global norm clipped at 0.01)."""
    optimizer = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[params.optimizer]
    return optimizer(learning_rate=params.lr, global_clipnorm=params.clip_norm, weight_decay=params.weight_decay or None)


def check_train_length(n_chars: int, params: TrainParams) -> None:
    """Fail before the first epoch, not midway, if the train part cannot fill one window."""
    if windows_per_epoch(n_chars, params.batch_size, params.num_steps) < 1:
        need = params.batch_size * params.num_steps + 1
        raise UserError(f"the train part ({n_chars} characters) is too short: train.batch_size={params.batch_size} "
                        f"streams of one train.num_steps={params.num_steps} window need {need} characters; "
                        f"lower them or use more text")


def train_perplexity(window_losses: np.ndarray, unk_fraction: float, unk_share: int) -> float:
    """The epoch's training perplexity on the fixed class set that validation uses.

    The loss is over the folded vocabulary; a target read as `<unk>` gets only an even share of
    `<unk>`'s probability on the class set, as `vocab.share_unk` does. Every window holds the same
    number of targets, so the mean over windows is the mean over characters. It is still the
    running loss of training (weights moving, dropout on), the book's measure. `unk_fraction`:
    the share of the epoch's targets that are `<unk>`.
    """
    return float(np.exp(np.mean(window_losses) + unk_fraction * np.log(unk_share)))


def train(model, train_ids: np.ndarray, valid_ids: np.ndarray, params: TrainParams, unk_share: int,
          on_epoch=log_epoch, checkpoint=None, strategy=None, task=None, on_progress=None) -> TrainResult:
    """Train `model` (built under `strategy`'s scope when there is one, charlm.distribute).
    In a multi-worker run, `task` is this process's place in the cluster, and only the chief
    passes a checkpoint: what it restores, it restores on every worker."""
    check_train_length(len(train_ids), params)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if strategy is None:
        optimizer = make_optimizer(params)
        run_epoch = single_device_epoch(model, optimizer, loss_fn, params.batch_size)
    else:
        with strategy.scope():
            optimizer = make_optimizer(params)
        run_epoch = distribute.epoch_runner(strategy, model, optimizer, loss_fn, params.batch_size)
    try:
        return _train(model, train_ids, valid_ids, params, unk_share, on_epoch, on_progress or log_progress, checkpoint,
                      optimizer, run_epoch, strategy, task)
    except tf.errors.OpError as error:
        if task is None:
            raise
        raise distribute.lost_task_error(error, task, distribute.timeout_seconds()) from None


def single_device_epoch(model, optimizer, loss_fn, batch_size: int):
    """A function (inputs, targets, states) -> (per-window losses, states, weights finite) over
    consecutive windows of an epoch (all of them, or a part); states None: the epoch's start."""

    def train_step(inputs, targets, states):
        with tf.GradientTape() as tape:
            logits, states = model(inputs, states, training=True)
            loss = loss_fn(targets, logits)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss, states

    # The windows are one compiled call (a loop over them inside XLA), so no Python runs between
    # windows. Every epoch has the same window count, so it compiles once (twice with a shorter
    # last part when train.checkpoint_windows splits the epoch).
    @graph_function(jit_compile=True)
    def train_windows(inputs, targets, states):
        def next_window(step, states, losses):
            loss, states = train_step(inputs[step], targets[step], states)
            return step + 1, states, losses.write(step, loss)

        count = tf.shape(inputs)[0]
        _, states, losses = tf.while_loop(lambda step, *_: step < count, next_window,
                                          (0, states, tf.TensorArray(tf.float32, size=count)))
        # A loss is computed before its window's update, so the last update is checked here.
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in model.trainable_variables])
        return losses.stack(), states, finite

    def run(inputs, targets, states=None):
        losses, states, finite = train_windows(inputs, targets, model.initial_states(batch_size) if states is None else states)
        return losses.numpy(), states, bool(finite)

    return run


def _train(model, train_ids, valid_ids, params, unk_share, on_epoch, on_progress, checkpoint, optimizer, run_epoch,
           strategy, task) -> TrainResult:
    scorer = Scorer(model, unk_share) if len(valid_ids) > 1 else None
    loop = {"epoch": 0, "history": [], "best_epoch": 0, "best_valid": None, "epochs_since_best": 0, "finished": False}
    best_weights, resumed_states = None, None
    restored = checkpoint.restore(model, optimizer, _state_shapes(model, params.batch_size)) if checkpoint else None
    if task is not None:
        restored = distribute.restored_on_every_worker(strategy, task, model, optimizer, restored)
    if restored:
        loop, best_weights, resumed_states = restored
        within = f", window {loop['partial']['window']} of epoch {loop['epoch'] + 1}" if "partial" in loop else ""
        say(f"resuming from the checkpoint after epoch {loop['epoch']}{within}")
    chars_trained, train_seconds = 0, 0.0
    offsets = epoch_offsets(len(train_ids), params.batch_size, params.num_steps, params.epochs,
                            params.seed if params.random_offset else None)
    # Mid-epoch checkpoints carry the streams' recurrent states, which a strategy keeps per replica
    # (and a multi-worker run on other machines): under one, checkpoints stay at epoch ends.
    mid_epoch_checkpoints = checkpoint is not None and strategy is None
    count = windows_per_epoch(len(train_ids), params.batch_size, params.num_steps)
    part = params.checkpoint_windows or count
    for epoch in range(loop["epoch"] + 1, params.epochs + 1):
        done = loop.pop("partial", None)
        first, losses, states = (done["window"], list(done["losses"]), resumed_states) if done else (0, [], None)
        seconds, chars = 0.0, 0
        for first in range(first, count, part):
            last = min(first + part, count)
            inputs, targets = consecutive_windows(train_ids, params.batch_size, params.num_steps, offsets[epoch - 1],
                                                  first, last)
            start = time.perf_counter()
            part_losses, states, weights_finite = run_epoch(inputs, targets, states)
            seconds += time.perf_counter() - start
            chars += inputs.size
            bad = np.flatnonzero(~np.isfinite(part_losses))
            if bad.size or not weights_finite:
                what = f"the loss became {part_losses[bad[0]]}" if bad.size else "the weights became non-finite"
                raise UserError(f"training diverged: {what} at epoch {epoch}, step {first + bad[0] + 1 if bad.size else last}; "
                                f"lower train.lr or train.clip_norm")
            losses += part_losses.astype(np.float64).tolist()
            if last < count:
                if mid_epoch_checkpoints:
                    checkpoint.save(model, optimizer, {**loop, "partial": {"window": last, "losses": losses}}, best_weights,
                                    [np.asarray(s) for s in states])
                on_progress(epoch, params.epochs, last, count, float(np.exp(np.mean(losses))),
                            inputs.size / (time.perf_counter() - start))
        losses = np.array(losses)
        del inputs, targets
        chars_trained += chars
        train_seconds += seconds
        row = {"epoch": epoch, "lr": float(optimizer.learning_rate.numpy()),
               "train_perplexity": train_perplexity(losses, _unk_fraction(train_ids, params, offsets[epoch - 1]),
                                                    unk_share),
               "valid_perplexity": perplexity(scorer.target_log_probs(valid_ids)) if scorer else None}
        loop["history"].append(row)
        on_epoch(row, params.epochs, seconds, chars / seconds)

        valid = row["valid_perplexity"]
        if valid is None or loop["best_valid"] is None or valid < loop["best_valid"]:
            loop.update(best_epoch=epoch, best_valid=valid, epochs_since_best=0)
            best_weights = get_weights(model)
        else:
            loop["epochs_since_best"] += 1
            # Smaller steps once validation stops improving; the rate lives in the optimizer's
            # variables, so a checkpoint carries it.
            optimizer.learning_rate.assign(optimizer.learning_rate * params.lr_decay)
        stop = bool(params.patience) and loop["epochs_since_best"] >= params.patience
        loop.update(epoch=epoch, finished=stop or epoch == params.epochs)
        if checkpoint:
            checkpoint.save(model, optimizer, loop, best_weights)
        if stop:
            break
    return TrainResult(loop["history"], loop["best_epoch"], best_weights, chars_trained, train_seconds)


def _state_shapes(model, batch_size: int) -> list[tuple[int, ...]]:
    return [tuple(state.shape) for state in model.initial_states(batch_size)]


def _unk_fraction(train_ids: np.ndarray, params: TrainParams, offset: int) -> float:
    """The share of `<unk>` among an epoch's targets. The streams lie end to end on the circle,
    so the targets are the `usable` characters after `offset`: one range, wrapping at most once."""
    n = len(train_ids)
    usable = params.batch_size * params.num_steps * windows_per_epoch(n, params.batch_size, params.num_steps)
    begin = (offset + 1) % n
    head = min(usable, n - begin)
    unk = np.count_nonzero(train_ids[begin:begin + head] == UNK_ID) + np.count_nonzero(train_ids[:usable - head] == UNK_ID)
    return int(unk) / usable
