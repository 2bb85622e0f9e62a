"""Stage 3: index arrays -> trained weights (models/), metrics/train.json and per-epoch history."""

from charlm import params
from charlm.cli import run_stage
from charlm.io import load_array, read_text, write_json
from charlm.vocab import Vocabulary

PROCESSED = "data/processed"
MODEL_DIR = "models"
METRICS_PATH = "metrics/train.json"
HISTORY_PATH = "metrics/train_history.json"
TIMING_PATH = "metrics/train_timing.json"


def main() -> None:
    p = params.load("train")
    vocab = Vocabulary.from_json(read_text(f"{PROCESSED}/vocab.json", "vocab"))
    train_ids = load_array(f"{PROCESSED}/train.npy", "vocab")
    valid_ids = load_array(f"{PROCESSED}/valid.npy", "vocab")

    # TensorFlow only now, after the cheap checks above have passed.
    from charlm.model import ModelConfig, build_model, save_model
    from charlm.tf_runtime import make_deterministic
    from charlm.training import train

    make_deterministic(p.seed)
    config = ModelConfig(vocab_size=vocab.size, input=p.input, embedding_dim=p.embedding_dim, cell=p.cell,
                         hidden_size=p.hidden_size, num_layers=p.num_layers, dropout=p.dropout,
                         vocab_fingerprint=vocab.fingerprint())
    model = build_model(config)
    result = train(model, train_ids, valid_ids, p, vocab.unk_share)

    save_model(model, MODEL_DIR, result.best_weights)
    best = result.best
    write_json(METRICS_PATH, {
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "train_perplexity": round(best.train_perplexity, 4),
        "valid_perplexity": None if best.valid_perplexity is None else round(best.valid_perplexity, 4),
    })
    write_json(HISTORY_PATH, [
        {"epoch": r.epoch, "train_perplexity": round(r.train_perplexity, 4),
         "valid_perplexity": None if r.valid_perplexity is None else round(r.valid_perplexity, 4)}
        for r in result.history
    ])
    # Timing differs from run to run, so it lives apart from the byte-reproducible metrics.
    write_json(TIMING_PATH, {
        "wall_seconds": round(result.train_seconds, 2),
        "chars_per_second": round(result.chars_trained / result.train_seconds),
    })


if __name__ == "__main__":
    run_stage(main)
