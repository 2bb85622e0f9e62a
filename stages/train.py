"""Stage 3: index arrays -> trained weights (models/), metrics/train.json and per-epoch history."""

import this_checkout  # noqa: F401  (first: this checkout's src/, not an installed copy's)
from charlm import distribute, params
from charlm.cli import run_stage
from charlm.io import exclusive_lock, load_array, write_json
from charlm.vocab import read_vocabulary

PROCESSED = "data/processed"
MODEL_DIR = "models"
CHECKPOINT_DIR = "checkpoints"
METRICS_PATH = "metrics/train.json"
HISTORY_PATH = "metrics/train_history.json"
TIMING_PATH = "metrics/train_timing.json"
LOCK_PATH = ".train.lock"


def main() -> None:
    p = params.load("train")
    vocab = read_vocabulary(f"{PROCESSED}/vocab.json")
    train_ids = load_array(f"{PROCESSED}/train.npy", "vocab")
    valid_ids = load_array(f"{PROCESSED}/valid.npy", "vocab")
    task = distribute.role(p.distribute)  # TF_CONFIG checked before TensorFlow starts
    if task is not None and not task.is_chief:  # a worker computes and writes nothing, the lock included
        train_and_write(p, vocab, train_ids, valid_ids, task)
        return
    # One training at a time writes this checkout's checkpoint and models.
    with exclusive_lock(LOCK_PATH, "training"):
        train_and_write(p, vocab, train_ids, valid_ids, task)


def train_and_write(p, vocab, train_ids, valid_ids, task) -> None:
    # TensorFlow only now, after the cheap checks have passed.
    from contextlib import nullcontext

    from charlm.checkpoint import Checkpoint, run_key
    from charlm.model import ModelConfig, build_model, save_model
    from charlm.tf_runtime import make_deterministic
    from charlm.training import train

    strategy = distribute.make_strategy(p.distribute, task)  # before any other TensorFlow work
    make_deterministic(p.seed)
    with strategy.scope() if strategy else nullcontext():
        model = build_model(ModelConfig.for_training(p, vocab))
    chief = task is None or task.is_chief
    # A checkpoint resumes only a run with these very params, data and code.
    checkpoint = Checkpoint(CHECKPOINT_DIR, run_key(p, train_ids, valid_ids)) if chief else None
    result = train(model, train_ids, valid_ids, p, vocab.unk_share, checkpoint=checkpoint, strategy=strategy, task=task)
    if not chief:
        return

    save_model(model, MODEL_DIR, result.best_weights)
    history = [{key: _round(value) for key, value in row.items()} for row in result.history]
    write_json(METRICS_PATH, {
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "train_perplexity": history[result.best_epoch - 1]["train_perplexity"],
        "valid_perplexity": history[result.best_epoch - 1]["valid_perplexity"],
    })
    write_json(HISTORY_PATH, history)
    # Timing differs from run to run, so it lives apart from the byte-reproducible metrics.
    write_json(TIMING_PATH, {
        "wall_seconds": round(result.train_seconds, 2),
        "chars_per_second": round(result.chars_trained / result.train_seconds) if result.train_seconds else None,
    })


def _round(value):
    return float(f"{value:.6g}") if isinstance(value, float) else value  # 6 significant digits


if __name__ == "__main__":
    run_stage(main)
