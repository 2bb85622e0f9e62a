"""Stage 4: model -> metrics/eval.json: perplexity of the network, a Kneser-Ney n-gram and their mixture.

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
    vocab = Vocabulary.from_json(read_text(f"{PROCESSED}/vocab.json", "vocab"))
    ids = {split: load_array(f"{PROCESSED}/{split}.npy", "vocab") for split in SPLITS}
    classes = {split: load_array(f"{PROCESSED}/{split}_classes.npy", "vocab") for split in SPLITS}

    from charlm.evaluation import Scorer, perplexity
    from charlm.interpolation import fit_weight, mix
    from charlm.model import load_model
    from charlm.ngram import KneserNey

    scorer = Scorer(load_model(MODEL_DIR, vocab.fingerprint()), vocab.unk_share)
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
    write_json(METRICS_PATH, report)
    for name in ("perplexity", "ngram", "mixture"):
        if name in report:
            print(f"evaluate: {name:<10} " + ", ".join(f"{k} {v}" for k, v in report[name].items()))


def _round(value):
    return None if value is None else round(value, 4)


if __name__ == "__main__":
    run_stage(main)
