"""Stage 6: trained model + vocabulary -> models/savedmodel, a TensorFlow SavedModel that continues a
prefix and gives the next character's probabilities without `charlm` or the vocabulary file."""

import this_checkout  # noqa: F401  (first: this checkout's src/, not an installed copy's)
from charlm.cli import run_stage, write_line
from charlm.model_files import check_model_files
from charlm.vocab import read_vocabulary

PROCESSED = "data/processed"
MODEL_DIR = "models"
EXPORT_DIR = "models/savedmodel"


def main() -> None:
    vocab = read_vocabulary(f"{PROCESSED}/vocab.json")
    check_model_files(MODEL_DIR, vocab.fingerprint(), vocab.size)  # before TensorFlow starts

    from charlm.export import export_model
    from charlm.model import load_model

    signatures = export_model(load_model(MODEL_DIR, vocab.fingerprint(), vocab.size), vocab, EXPORT_DIR)
    write_line(f"wrote {EXPORT_DIR} (signatures {', '.join(signatures)})")


if __name__ == "__main__":
    run_stage(main)
