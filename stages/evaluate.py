"""Stage 4: model -> metrics/eval.json: perplexity of the network, a Kneser-Ney n-gram and their
mixture, static (from the train part alone) and adaptive (learning from the held-out text as it is
read), beside what xz and PPMd pay for the same text.

The main figures are scored on one fixed class set (every train character plus one class for
unseen ones), so they stay comparable across vocabulary settings. "open_vocabulary" repeats them
with each unseen character also spelled out (charlm.spelling), a cost a decoder could pay, as the
compressors' is. The mixture weight is fit on validation and stored in the metrics, where
`charlm score` reads it.
"""

import this_checkout  # noqa: F401  (first: this checkout's src/, not an installed copy's)
from charlm import params
from charlm.cli import run_stage, write_line
from charlm.io import load_array, read_text, write_json
from charlm.model_files import check_model_files
from charlm.vocab import read_vocabulary

PROCESSED = "data/processed"
MODEL_DIR = "models"
METRICS_PATH = "metrics/eval.json"
SPLITS = ("train", "valid", "test")


def main() -> None:
    p = params.load("evaluate")
    dynamic = params.load("dynamic")
    vocab = read_vocabulary(f"{PROCESSED}/vocab.json")
    check_model_files(MODEL_DIR, vocab.fingerprint(), vocab.size)  # before TensorFlow starts
    ids = {split: load_array(f"{PROCESSED}/{split}.npy", "vocab") for split in SPLITS}
    classes = {split: load_array(f"{PROCESSED}/{split}_classes.npy", "vocab") for split in SPLITS}

    from charlm.adaptive import AdaptiveModels, AdaptiveSettings, first_characters, held_out_log_probs
    from charlm.compression import references
    from charlm.interpolation import fit_weight
    from charlm.ngram import available_memory, check_counts_fit
    from charlm.progress import for_text
    from charlm.scoring import TRAIN_SCORE_LIMIT, ScoringModels, open_vocabulary_figures, perplexities, with_mixture
    from charlm.spelling import Spelling

    check_counts_fit(len(classes["train"]), [p.ngram_order, p.adaptive_ngram_order], available_memory())
    models = ScoringModels(MODEL_DIR, vocab, classes["train"], p.ngram_order, p.ngram_discount)
    # The train figure only shows how far the network fits what it saw: a bounded start of the
    # train part gives it, whatever the corpus size (the count scored is in the file).
    scored = {s: slice(None) if s != "train" else slice(TRAIN_SCORE_LIMIT) for s in SPLITS}
    # Progress lines on stderr for a part of 100,000 characters or more (charlm.progress).
    scores = {s: models.log_probs(ids[s][scored[s]], classes[s][scored[s]],
                                  for_text(f"evaluate: {s}", len(ids[s][scored[s]]) - 1)) for s in SPLITS}

    report = {"classes": vocab.class_count,
              "train_characters_scored": len(scores["train"]["network"]),
              "perplexity": {s: perplexities(scores[s])["network"] for s in SPLITS},
              "ngram": {s: perplexities(scores[s])["ngram"] for s in ("valid", "test")}}
    if len(scores["valid"]["network"]):
        # Rounded before use, so the stored weight is exactly the one `charlm score` mixes with.
        weight = round(fit_weight(scores["valid"]["network"], scores["valid"]["ngram"]), 4)
        scores = {s: with_mixture(scores[s], weight) for s in SPLITS}
        report["mixture"] = {s: perplexities(scores[s])["mixture"] for s in ("valid", "test")}
        report["mixture"]["network_weight"] = weight

    # Adaptive: the held-out text read as one stream, every model learning as it reads; on a large
    # corpus only each part's first adaptive_max_chars characters (the count read is in the file).
    limit = p.adaptive_max_chars
    adaptive = AdaptiveModels(models.network.model, vocab.unk_share, vocab.class_count, ids["train"],
                              classes["train"], AdaptiveSettings.from_params(p, dynamic), counted=models.ngram)
    read = first_characters(ids, limit)
    held_out = held_out_log_probs(adaptive, read, first_characters(classes, limit),
                                  for_text("evaluate: held-out", sum(map(len, read.values())) - 1))
    report["adaptive_characters_read"] = {s: len(read[s]) for s in ("valid", "test")}
    report["adaptive"] = {name: perplexities(by_part) for name, by_part in held_out.items()}
    # What xz and PPMd pay for each part (after its first character) given all the text before it,
    # on the characters the adaptive models read.
    texts = {split: read_text(f"{PROCESSED}/{split}.txt", "vocab") for split in SPLITS}
    report["adaptive"].update(references({"train": texts["train"], **first_characters(texts, limit)}))

    # Open vocabulary: the same figures with each character the class set cannot name spelled out.
    report["open_vocabulary"] = open_vocabulary_figures(scores, held_out, Spelling(texts["train"]), texts, classes,
                                                        adaptive_limit=limit)
    write_json(METRICS_PATH, report)
    for name in ("perplexity", "ngram", "mixture"):
        if name in report:
            write_line(f"evaluate: {name:<10} " + ", ".join(f"{k} {v}" for k, v in report[name].items()))
    for name, figures in report["adaptive"].items():
        write_line(f"evaluate: adaptive {name:<13} " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    open_vocabulary = report["open_vocabulary"]
    write_line(f"evaluate: open vocabulary: unseen characters {open_vocabulary['unseen']}, bits to spell one "
          f"{open_vocabulary['spelling_bits']}")
    for name in ("perplexity", "ngram", "mixture"):
        if name in open_vocabulary:
            write_line(f"evaluate: open vocabulary {name:<10} " + ", ".join(f"{k} {v}" for k, v in open_vocabulary[name].items()))
    for name, figures in open_vocabulary["adaptive"].items():
        write_line(f"evaluate: open vocabulary adaptive {name:<13} " + ", ".join(f"{k} {v}" for k, v in figures.items()))


if __name__ == "__main__":
    run_stage(main)
