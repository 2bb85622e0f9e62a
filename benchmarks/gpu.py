"""Train and generate on a GPU, where one is present (a prepared check, not a test).

Trains the default model on the default corpus (run `make repro` first) for a few epochs with
train.distribute=none (one GPU, the whole epoch one XLA call) and, with two or more GPUs,
`mirrored` over all of them (XLA around each replica's step); checks that the weights live on a
GPU; times generation as `make bench` does. Writes benchmarks/gpu.json. Without a GPU it says
so and exits with status 2: the CPU tests carry the correctness there.

    python benchmarks/gpu.py [--epochs 4]
"""

import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # this checkout's code

from charlm import params  # noqa: E402
from charlm.io import load_array  # noqa: E402
from charlm.vocab import read_vocabulary  # noqa: E402

RESULTS = ROOT / "benchmarks" / "gpu.json"


def train_on(p, vocab, train_ids, valid_ids, strategy):
    from contextlib import nullcontext

    from charlm.model import ModelConfig, build_model
    from charlm.tf_runtime import make_deterministic
    from charlm.training import train

    make_deterministic(p.seed)
    with strategy.scope() if strategy else nullcontext():
        model = build_model(ModelConfig.for_training(p, vocab))
    speeds = []
    result = train(model, train_ids, valid_ids, p, vocab.unk_share, strategy=strategy,
                   on_epoch=lambda row, epochs, seconds, chars_per_second: speeds.append(chars_per_second))
    return model, {"chars_per_second_median": round(statistics.median(speeds[1:] or speeds)),
                   "valid_perplexity": [row["valid_perplexity"] for row in result.history],
                   "weights_on": model.weights[0].device}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    from charlm.tf_runtime import tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print("no GPU is visible to TensorFlow: nothing measured", file=sys.stderr)
        sys.exit(2)
    p = dataclasses.replace(params.load("train", ROOT / "params.yaml"), epochs=args.epochs, patience=0)
    vocab = read_vocabulary(ROOT / "data/processed/vocab.json")
    train_ids = load_array(ROOT / "data/processed/train.npy", "vocab")
    valid_ids = load_array(ROOT / "data/processed/valid.npy", "vocab")
    results = {"gpus": [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus],
               "tensorflow": tf.__version__, "epochs": args.epochs}
    model, results["none"] = train_on(p, vocab, train_ids, valid_ids, None)
    assert "GPU" in results["none"]["weights_on"].upper(), results["none"]["weights_on"]
    if len(gpus) > 1:
        _, results["mirrored"] = train_on(dataclasses.replace(p, distribute="mirrored"), vocab, train_ids, valid_ids,
                                          tf.distribute.MirroredStrategy())
    from run import generation

    results["generate"] = generation(model, vocab)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=float) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2, ensure_ascii=False, default=float))


if __name__ == "__main__":
    main()
