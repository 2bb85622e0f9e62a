"""Stage 4: model -> metrics/eval.json: perplexity of the network, a Kneser-Ney n-gram and their mixture.

Every number is scored on one fixed class set (every train character plus one class for unseen
ones), so it stays comparable across vocabulary settings. The mixture weight is fit on validation
and stored in the metrics, where `charlm score` reads it.
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

    from charlm.interpolation import fit_weight
    from charlm.scoring import ScoringModels, perplexities, with_mixture

    models = ScoringModels(MODEL_DIR, vocab, classes["train"], p.ngram_order, p.ngram_discount)
    scores = {s: models.log_probs(ids[s], classes[s]) for s in SPLITS}

    report = {"classes": vocab.class_count,
              "perplexity": {s: perplexities(scores[s])["network"] for s in SPLITS},
              "ngram": {s: perplexities(scores[s])["ngram"] for s in ("valid", "test")}}
    if len(scores["valid"]["network"]):
        # Rounded before use, so the stored weight is exactly the one `charlm score` mixes with.
        weight = round(fit_weight(scores["valid"]["network"], scores["valid"]["ngram"]), 4)
        report["mixture"] = {s: perplexities(with_mixture(scores[s], weight))["mixture"] for s in ("valid", "test")}
        report["mixture"]["network_weight"] = weight
    write_json(METRICS_PATH, report)
    for name in ("perplexity", "ngram", "mixture"):
        if name in report:
            print(f"evaluate: {name:<10} " + ", ".join(f"{k} {v}" for k, v in report[name].items()))


if __name__ == "__main__":
    run_stage(main)
