"""Stage 4: trained model -> metrics/eval.json, perplexity on train, validation and test."""

from charlm import params
from charlm.cli import run_stage
from charlm.io import load_array, read_text, write_json
from charlm.vocab import Vocabulary

PROCESSED = "data/processed"
MODEL_DIR = "models"
METRICS_PATH = "metrics/eval.json"
SPLITS = ("train", "valid", "test")


def main() -> None:
    params.load("evaluate")
    vocab = Vocabulary.from_json(read_text(f"{PROCESSED}/vocab.json", "vocab"))
    ids = {split: load_array(f"{PROCESSED}/{split}.npy", "vocab") for split in SPLITS}

    from charlm.evaluation import Scorer, perplexity
    from charlm.model import load_model

    scorer = Scorer(load_model(MODEL_DIR, vocab.fingerprint()), vocab.unk_share)
    model_ppl = {split: perplexity(scorer.target_log_probs(ids[split])) for split in SPLITS}
    write_json(METRICS_PATH, {
        "classes": vocab.class_count,
        "perplexity": {split: _round(value) for split, value in model_ppl.items()},
    })
    print("evaluate: perplexity " + ", ".join(f"{s} {_round(v)}" for s, v in model_ppl.items()))


def _round(value):
    return None if value is None else round(value, 4)


if __name__ == "__main__":
    run_stage(main)
