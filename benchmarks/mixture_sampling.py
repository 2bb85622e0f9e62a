"""Does drawing from the mixture of the network and the n-gram make samples read better? Each
network weight w draws from w * P_network + (1 - w) * P_ngram (the static Kneser-Ney n-gram of
the train part, evaluate.ngram_order and ngram_discount), with the default sampler (temperature,
top-k, top-p, min-p and the repetition penalty of params.yaml applied to the mixture's
log-probabilities), on the sampling sweep's validation prefixes, measured as the sweep measures
(benchmarks/sampling_sweep.py: the same figures, targets and fluency column).

The n-gram's next-character distribution is NumPy (`KneserNey.next_distributions`), so this loop
runs a step at a time in Python, not in the compiled loop of charlm.generation; w = 1 runs the
same Python loop without the n-gram, so every row is drawn the same way. The fluency column's
5-gram counts the same train part as the mixed n-gram, so mixing lowers it by construction: the
repetition and copy measures are what this experiment reads.

Run after `dvc repro train vocab evaluate` in a checkout: `python benchmarks/mixture_sampling.py`;
it prints a Markdown table and writes it with the figures to benchmarks/mixture_sampling.json.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from sampling_sweep import LENGTH, SAMPLES, SEED, Measuring, verdict  # noqa: E402

from charlm.generation import choose, read_prefix  # noqa: E402
from charlm.ngram import KneserNey  # noqa: E402
from charlm.params import SAMPLER_DEFAULTS  # noqa: E402
from charlm.tf_runtime import graph_function, tf  # noqa: E402

WEIGHTS = (1.0, 0.9, 0.8, 0.7, 0.55)  # of the network; evaluate fits 0.46 on validation perplexity


def mixture_samples(generator, step, ngram: KneserNey | None, weight: float, prefix: str, seed: int, sampler: dict) -> list[str]:
    """SAMPLES continuations of LENGTH characters of `prefix`, drawn from the mixture one step at a time."""
    model, vocab = generator.model, generator.vocab
    prefix_ids = vocab.encode(prefix)
    logits, states = read_prefix(model, tf.constant(prefix_ids, tf.int32), SAMPLES)
    history = np.tile(prefix_ids.astype(np.int64), (SAMPLES, 1))
    window = sampler["repetition_window"]
    for n in range(LENGTH):
        log_p = tf.nn.log_softmax(logits).numpy().astype(np.float64)
        if ngram is not None:
            with np.errstate(divide="ignore"):
                log_p = np.logaddexp(np.log(weight) + log_p, np.log1p(-weight) + np.log(ngram.next_distributions(history)))
        recent = history[:, -window:] if window else history[:, :0]
        counts = np.zeros((SAMPLES, vocab.size), dtype=np.int32)
        np.add.at(counts, (np.arange(SAMPLES)[:, None], recent), 1)
        token = choose(tf.constant(log_p, tf.float32), tf.constant(sampler["temperature"], tf.float32),
                       tf.constant(sampler["top_k"]), tf.constant([seed, n], tf.int64), False,
                       tf.constant(sampler["top_p"], tf.float32), tf.constant(sampler["min_p"], tf.float32),
                       tf.constant(sampler["repetition_penalty"], tf.float32), tf.constant(counts))
        logits, states = step(token, states)
        history = np.concatenate([history, token.numpy()[:, None]], axis=1)
    return [vocab.decode(row[len(prefix_ids):]) for row in history]


def main() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    sampler = {key: params["generate"][key] for key in SAMPLER_DEFAULTS}
    measuring = Measuring.from_checkout()
    generator, prefixes, real = measuring.generator, measuring.prefixes, measuring.real
    step = graph_function(generator.model.step)  # traced once for every prefix and weight
    # Over the network's own ids, so that both models name the same characters.
    mixed = KneserNey(np.load(ROOT / "data/processed/train.npy"), generator.vocab.size,
                      params["evaluate"]["ngram_order"], params["evaluate"]["ngram_discount"])
    rows = []
    for weight in WEIGHTS:
        started = time.perf_counter()
        texts = [text for i, prefix in enumerate(prefixes)
                 for text in mixture_samples(generator, step, None if weight == 1 else mixed, weight, prefix, SEED + i, sampler)]
        measured = measuring.measure(texts)
        rows.append({"network_weight": weight, **measured, **verdict(measured, real),
                     "seconds": round(time.perf_counter() - started, 1), "example": texts[0]})
        print(f"w {weight}: gap {rows[-1]['gap']:.3f} {'meets' if rows[-1]['meets'] else 'misses'}", file=sys.stderr)
    (ROOT / "benchmarks/mixture_sampling.json").write_text(
        json.dumps({"sampler": sampler, "prefixes": prefixes, "samples_per_prefix": SAMPLES, "length": LENGTH,
                    "real": real, "rows": rows}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(table(rows, real))


def table(rows: list[dict], real: dict) -> str:
    columns = ["distinct_1", "distinct_2", "top8_share", "loop_fraction", "longest_copy_median",
               "longest_copy_max", "copied_8gram_share", "fluency"]
    lines = ["| network weight | " + " | ".join(columns) + " | gap | meets |",
             "| ---: |" + " ---: |" * len(columns) + " ---: | :---: |",
             "| real held-out text | " + " | ".join(f"{real[c]:g}" for c in columns) + " | | |"]
    for row in rows:
        lines.append(f"| {row['network_weight']:g} | " + " | ".join(f"{row[c]:g}" for c in columns)
                     + f" | {row['gap']:.2f} | {'yes' if row['meets'] else ''} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
