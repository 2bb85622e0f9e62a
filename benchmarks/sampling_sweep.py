"""The sweep that chose the default decoding settings (generate.temperature, top_k, top_p, min_p,
repetition_penalty, repetition_window): each setting continues prefixes taken from the validation
part (never the test part) and is measured as the generate stage measures its samples
(charlm.sample_quality), beside the validation part cut into pieces of the same length. A fluency
column, the perplexity of each piece under a Kneser-Ney 5-gram of the train part, catches what the
repetition measures cannot: text that matches real text's counts because it is random.

Run after `dvc repro train vocab` in a checkout: `python benchmarks/sampling_sweep.py`; it prints a
Markdown table, best first, and writes it with the figures to benchmarks/sampling_sweep.json.
"""

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from charlm.continuation import load_generator  # noqa: E402
from charlm.generation import Controls  # noqa: E402
from charlm.ngram import KneserNey  # noqa: E402
from charlm.sample_quality import CopyDetector, figures, held_out_pieces  # noqa: E402
from charlm.vocab import read_vocabulary  # noqa: E402

PREFIXES = 16          # taken from the validation part, each a phrase that starts after a space
PREFIX_CHARS = 4       # at most, up to the next space
SAMPLES, LENGTH = 32, 100
SEED = 1
FLUENCY_ORDER, FLUENCY_DISCOUNT = 5, 0.75
# A setting must meet the loop, distinct-2 and top-8 targets with a fifth of each tolerance to spare
# (loops within 4 points, distinct-2 within 12 %, top-8 at most 1.4x): 16 prefixes are a sample,
# and the pipeline's own prefixes are others. (Added after a first ranking, without the margin, put
# its best setting at 1.45x on the top-8 share, at the edge of the target.)
MARGIN = 0.8

# (temperature, top_k, top_p, min_p, repetition_penalty, repetition_window)
SETTINGS = [
    *[(t, k, 1.0, 0.0, 1.0, 0) for t in (0.7, 0.8, 0.9, 1.0, 1.1) for k in (0, 10, 40)],
    *[(t, 0, p, 0.0, 1.0, 0) for t in (0.9, 1.0, 1.1) for p in (0.8, 0.9, 0.95)],
    *[(t, 0, 1.0, m, 1.0, 0) for t in (0.9, 1.0, 1.2) for m in (0.02, 0.05, 0.1)],
    *[(t, k, p, m, r, 20) for (t, k, p, m) in ((0.8, 10, 1.0, 0.0), (1.0, 0, 0.9, 0.0), (1.0, 0, 1.0, 0.05))
      for r in (1.2, 1.5, 2.0)],
    *[(0.8, 10, 1.0, 0.0, r, w) for r in (1.5,) for w in (10, 40)],
    # Second round, around the first round's best (the penalty with top-p).
    *[(t, 0, p, 0.0, r, 20) for t in (0.9, 1.0) for p in (0.85, 0.9, 0.95) for r in (1.1, 1.2, 1.3)
      if (t, p, r) not in ((1.0, 0.9, 1.2),)],
    (1.0, 0, 0.9, 0.0, 1.2, 10), (1.0, 0, 0.9, 0.0, 1.2, 40), (1.0, 0, 0.9, 0.02, 1.2, 20),
]


def validation_prefixes(valid_text: str) -> list[str]:
    """PREFIXES phrases spread evenly over the validation part, each starting after a space."""
    prefixes = []
    for position in np.linspace(0, len(valid_text) - 50, PREFIXES, dtype=int):
        start = valid_text.index(" ", position) + 1
        phrase = valid_text[start:start + PREFIX_CHARS].split(" ")[0]
        prefixes.append(phrase or valid_text[start:start + 2])
    return prefixes


def fluency(texts: list[str], ngram: KneserNey, classes) -> float:
    """Perplexity of the pieces' characters (each after its first) under the n-gram."""
    logs = np.concatenate([ngram.target_log_probs(classes.encode(text)) for text in texts])
    return round(float(np.exp(-logs.mean())), 2)


@dataclass
class Measuring:
    """What a sweep measures samples with, from the checkout's data/processed and models: the
    trained generator, the validation prefixes, the copy detector and fluency n-gram of the train
    part, and real held-out text's figures."""
    generator: object
    prefixes: list[str]
    copies: CopyDetector
    judge: KneserNey
    classes: object
    real: dict

    @classmethod
    def from_checkout(cls) -> "Measuring":
        processed = ROOT / "data/processed"
        vocab = read_vocabulary(processed / "vocab.json")
        train_text = (processed / "train.txt").read_text(encoding="utf-8")
        valid_text = (processed / "valid.txt").read_text(encoding="utf-8")
        classes = vocab.class_vocabulary()
        measuring = cls(load_generator(ROOT / "models", vocab), validation_prefixes(valid_text),
                        CopyDetector(train_text),
                        KneserNey(classes.encode(train_text), classes.size, FLUENCY_ORDER, FLUENCY_DISCOUNT),
                        classes, {})
        measuring.real = measuring.measure(held_out_pieces(valid_text, LENGTH))
        return measuring

    def measure(self, texts: list[str]) -> dict:
        return {**figures(texts, self.copies), "fluency": fluency(texts, self.judge, self.classes)}


def main() -> None:
    measuring = Measuring.from_checkout()
    generator, prefixes, real = measuring.generator, measuring.prefixes, measuring.real
    rows = []
    for setting in SETTINGS:
        temperature, top_k, *controls = setting
        started = time.perf_counter()
        texts = [text[len(prefix):] for i, prefix in enumerate(prefixes)
                 for text in generator.continue_text(prefix, LENGTH, temperature, top_k, SEED + i, SAMPLES,
                                                     Controls(*controls))]
        measured = measuring.measure(texts)
        rows.append({"setting": dict(zip(("temperature", "top_k", "top_p", "min_p", "repetition_penalty",
                                          "repetition_window"), setting)),
                     **measured, **verdict(measured, real), "seconds": round(time.perf_counter() - started, 2)})
        print(f"{setting}: {rows[-1]['gap']:.3f} {'meets' if rows[-1]['meets'] else 'misses'}", file=sys.stderr)
    # Of the settings that meet every target, the first is the one whose text the n-gram of the train
    # lyrics finds most plausible (see `verdict`).
    rows.sort(key=lambda row: (not row["meets"], row["fluency"] if row["meets"] else row["gap"]))
    (ROOT / "benchmarks/sampling_sweep.json").write_text(
        json.dumps({"prefixes": prefixes, "samples_per_prefix": SAMPLES, "length": LENGTH, "real": real,
                    "rows": rows}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(table(rows, real))


def verdict(measured: dict, real: dict) -> dict:
    """Whether a setting meets the targets: loops within 5 points of real text's, distinct-2 within
    15 %, a top-8 share at most 1.5x real text's (each with MARGIN of its tolerance), a median copy of at most 12 characters, no <unk>,
    and an n-gram perplexity at most 1.25x real text's; and its gap from real text, the sum of its
    distances on the repetition and copy measures, each in units of its target's tolerance.

    Among the settings that meet every target, the lowest n-gram perplexity wins: those settings are
    all about as varied as real text, and of them the one whose text is most like the lyrics' own
    phrasing reads best. (A first rule also counted the distance of the n-gram perplexity from real
    text's in the gap and took the smallest gap; it preferred the hottest settings, whose text a
    reader finds the least coherent, so it was replaced. Both rules saw the validation part only.)"""
    gaps = {"loops": abs(measured["loop_fraction"] - real["loop_fraction"]) / 0.05,
            "distinct_2": abs(measured["distinct_2"] / real["distinct_2"] - 1) / 0.15,
            "top8": max(measured["top8_share"] / real["top8_share"] - 1, 0) / 0.5,
            "copy": max(measured["longest_copy_median"] - real["longest_copy_median"], 0) / 12}
    meets = (all(gaps[name] <= MARGIN for name in ("loops", "distinct_2", "top8")) and measured["unk"] == 0
             and measured["longest_copy_median"] <= 12 and measured["fluency"] <= 1.25 * real["fluency"])
    return {"meets": bool(meets), "gap": round(float(sum(gaps.values())), 3)}


def table(rows: list[dict], real: dict) -> str:
    columns = ["distinct_1", "distinct_2", "top8_share", "loop_fraction", "longest_copy_median",
               "copied_8gram_share", "fluency"]
    lines = ["| temperature | top-k | top-p | min-p | repetition (window) | " + " | ".join(columns) + " | gap | meets |",
             "| ---: | ---: | ---: | ---: | ---: |" + " ---: |" * len(columns) + " ---: | :---: |"]
    lines.append("| real held-out text | | | | | " + " | ".join(f"{real[c]:g}" for c in columns) + " | | |")
    for row in rows:
        s = row["setting"]
        repetition = f"{s['repetition_penalty']:g} ({s['repetition_window']})" if s["repetition_penalty"] > 1 else "off"
        lines.append(f"| {s['temperature']:g} | {s['top_k'] or 'off'} | {s['top_p']:g} | {s['min_p']:g} | {repetition} | "
                     + " | ".join(f"{row[c]:g}" for c in columns) + f" | {row['gap']:.2f} | {'yes' if row['meets'] else ''} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
