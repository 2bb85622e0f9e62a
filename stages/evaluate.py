"""Stage 4: model -> metrics/eval.json: perplexity of the network, a Kneser-Ney n-gram and their
mixture, static (from the train part alone) and adaptive (learning from the held-out text as it is
read), beside what xz pays for the same text.

Every number is scored on one fixed class set (every train character plus one class for unseen
ones), so it stays comparable across vocabulary settings. The mixture weight is fit on validation.
"""

from charlm import params
from charlm.cli import run_stage
from charlm.io import load_array, read_text, write_json
from charlm.vocab import Vocabulary

PROCESSED = "data/processed"
MODEL_DIR = "models"
METRICS_PATH = "metrics/eval.json"
SPLITS = ("train", "valid", "test")


def main() -> None:
    p = params.load("evaluate")
    dynamic = params.load("dynamic")
    vocab = Vocabulary.from_json(read_text(f"{PROCESSED}/vocab.json", "vocab"))
    ids = {split: load_array(f"{PROCESSED}/{split}.npy", "vocab") for split in SPLITS}
    classes = {split: load_array(f"{PROCESSED}/{split}_classes.npy", "vocab") for split in SPLITS}

    from charlm.adaptive import AdaptiveSettings, adaptive_log_probs
    from charlm.compression import conditional_perplexity
    from charlm.evaluation import Scorer, perplexity
    from charlm.interpolation import fit_weight, mix
    from charlm.model import load_model
    from charlm.ngram import KneserNey

    model = load_model(MODEL_DIR, vocab.fingerprint())
    scorer = Scorer(model, vocab.unk_share)
    # The n-gram counts over the unfolded class set, so vocab.min_count never weakens the baseline.
    ngram = KneserNey(classes["train"], vocab.class_count, p.ngram_order, p.ngram_discount)
    network = {s: scorer.target_log_probs(ids[s]) for s in SPLITS}
    counting = {s: ngram.target_log_probs(classes[s]) for s in SPLITS}

    report = {"classes": vocab.class_count,
              "perplexity": {s: _round(perplexity(network[s])) for s in SPLITS},
              "ngram": {s: _round(perplexity(counting[s])) for s in ("valid", "test")}}
    if len(network["valid"]):
        weight = fit_weight(network["valid"], counting["valid"])
        report["mixture"] = {s: _round(perplexity(mix(network[s], counting[s], weight))) for s in ("valid", "test")}
        report["mixture"]["network_weight"] = round(weight, 4)

    settings = AdaptiveSettings(p.adaptive_ngram_order, p.adaptive_ngram_discount, p.local_ngram_order,
                                dynamic.segment, dynamic.lr, dynamic.decay, p.mixer_lr)
    adaptive = adaptive_log_probs(model, vocab.unk_share, vocab.class_count, ids, classes, settings)
    report["adaptive"] = {name: {s: _round(perplexity(scores[s])) for s in ("valid", "test")}
                          for name, scores in adaptive.items()}
    texts = {split: read_text(f"{PROCESSED}/{split}.txt", "vocab") for split in SPLITS}
    report["adaptive"]["xz"] = {"valid": _round(conditional_perplexity(texts["train"], texts["valid"])),
                                "test": _round(conditional_perplexity(texts["train"] + texts["valid"], texts["test"]))}
    write_json(METRICS_PATH, report)
    for name in ("perplexity", "ngram", "mixture"):
        if name in report:
            print(f"evaluate: {name:<10} " + ", ".join(f"{k} {v}" for k, v in report[name].items()))
    for name, figures in report["adaptive"].items():
        print(f"evaluate: adaptive {name:<13} " + ", ".join(f"{k} {v}" for k, v in figures.items()))


def _round(value):
    return None if value is None else round(value, 4)


if __name__ == "__main__":
    run_stage(main)
