"""Stage 2: corpus -> train/validation/test index arrays, the vocabulary and metrics/data.json."""

import this_checkout  # noqa: F401  (first: this checkout's src/, not an installed copy's)
from charlm import params
from charlm.cli import run_stage, write_line
from charlm.io import read_text, save_array, write_json, write_text
from charlm.vocab import build_vocabulary, oov_rate, split_corpus

CORPUS_PATH = "data/interim/corpus.txt"
PROCESSED = "data/processed"
METRICS_PATH = "metrics/data.json"


def main() -> None:
    p = params.load("vocab")
    splits = split_corpus(read_text(CORPUS_PATH, "unzip"), p.valid_fraction, p.test_fraction)
    vocab = build_vocabulary(splits.train, p.min_count)
    write_text(f"{PROCESSED}/vocab.json", vocab.to_json())
    classes = vocab.class_vocabulary()
    for name in ("train", "valid", "test"):
        # The part's text as it is, for what reads characters rather than ids (xz's yardstick).
        write_text(f"{PROCESSED}/{name}.txt", getattr(splits, name))
        save_array(f"{PROCESSED}/{name}.npy", vocab.encode(getattr(splits, name)))
        # The same text over the fixed class set, unfolded, for the n-gram baseline.
        save_array(f"{PROCESSED}/{name}_classes.npy", classes.encode(getattr(splits, name)))
    write_json(METRICS_PATH, {
        "characters": {name: len(getattr(splits, name)) for name in ("train", "valid", "test")},
        "vocabulary_size": vocab.size,
        "train_characters_distinct": vocab.class_count - 1,
        "folded_into_unk": len(vocab.folded),
        "oov_rate": {"valid": round(oov_rate(vocab, splits.valid), 6), "test": round(oov_rate(vocab, splits.test), 6)},
    })
    write_line(f"vocab: {vocab.size:,} tokens; train/valid/test = "
          f"{len(splits.train):,}/{len(splits.valid):,}/{len(splits.test):,} characters")


if __name__ == "__main__":
    run_stage(main)
