"""Generation speed of this working tree's loop against the loop of a git revision, in one process.

    python benchmarks/generation_against.py [REVISION]      (default: HEAD)

Loads `src/charlm/generation.py` as it is at REVISION beside the working tree's, builds one model
of the book's configuration (GRU 256, embedding input, the book's 1,028-character vocabulary;
untrained: speed does not depend on the weights), and times continuations of 500 characters with
each loop in turn, rounds alternating, the first round a warm-up (tracing and compiling). Prints
the median chars/s of each and their ratio; the working tree also runs with the sampling
controls on. Figures compare within one run only, never across machines.
"""

import argparse
import importlib.util
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LENGTH = 500
ROUNDS = 8                      # the first is warm-up
VOCABULARY = 1028               # the book's corpus (benchmarks/results.json: book_vocabulary)
HIDDEN = 256                    # the book's GRU
CASES = {  # name: (temperature, top_k, number of continuations)
    "greedy": (0.0, 0, 1),
    "sampled": (0.8, 10, 1),
    "sampled_batch_64": (0.8, 10, 64),
}


def module_at(revision: str, folder: Path):
    source = subprocess.run(["git", "show", f"{revision}:src/charlm/generation.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = folder / "generation_at_revision.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("generation_at_revision", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", nargs="?", default="HEAD")
    args = parser.parse_args(argv)

    from charlm import generation
    from charlm.model import ModelConfig, build_model
    from charlm.tf_runtime import make_deterministic
    from charlm.vocab import build_vocabulary

    vocab = build_vocabulary("".join(chr(0x4E00 + i) for i in range(VOCABULARY - 1)))
    make_deterministic(0)
    model = build_model(ModelConfig(vocab.size, "embedding", HIDDEN, "gru", HIDDEN, 1, 0.0, 0.0, False,
                                    vocab.fingerprint()))
    controls = generation.Controls(top_p=0.9, min_p=0.05, repetition_penalty=1.3, repetition_window=64)
    with tempfile.TemporaryDirectory() as tmp:
        before = module_at(args.revision, Path(tmp))
        runs = {}
        for xla in (True, False):
            mode = "xla" if xla else "graph"
            old = before.Generator(model, vocab, jit_compile=xla)
            new = generation.Generator(model, vocab, jit_compile=xla)
            for name, (temperature, top_k, samples) in CASES.items():
                arguments = ("分开", LENGTH, temperature, top_k, 0, samples)
                calls = {f"{mode} {name}, {args.revision}": lambda: old.continue_text(*arguments),
                         f"{mode} {name}, working tree": lambda: new.continue_text(*arguments)}
                if temperature:
                    calls[f"{mode} {name}, working tree, controls on"] = lambda: new.continue_text(*arguments, controls)
                for round in range(ROUNDS):
                    for label, call in calls.items():
                        start = time.perf_counter()
                        call()
                        if round:
                            runs.setdefault(label, []).append(LENGTH * samples / (time.perf_counter() - start))
    medians = {label: statistics.median(speeds) for label, speeds in runs.items()}
    width = max(map(len, medians))
    print(f"median of {ROUNDS - 1} rounds, {LENGTH} characters; controls on: top-p 0.9, min-p 0.05, "
          f"repetition penalty 1.3 over 64")
    for label, speed in medians.items():
        mode_name = label.split(",")[0]
        reference = medians[f"{mode_name}, {args.revision}"]
        print(f"{label:<{width}}  {speed:>9,.0f} chars/s  {speed / reference:.2f}x")
    return medians


if __name__ == "__main__":
    main()
