"""Stage 5: trained model -> reports/samples.md, greedy and sampled continuations of each prefix."""

from charlm import params
from charlm.cli import run_stage, warn
from charlm.io import read_text, write_text
from charlm.vocab import Vocabulary

PROCESSED = "data/processed"
MODEL_DIR = "models"
SAMPLES_PATH = "reports/samples.md"


def main() -> None:
    p = params.load("generate")
    vocab = Vocabulary.from_json(read_text(f"{PROCESSED}/vocab.json", "vocab"))

    from charlm.generation import Generator
    from charlm.model import load_model

    generator = Generator(load_model(MODEL_DIR, vocab.fingerprint()), vocab)
    samples = "" if p.num_samples == 1 else f", {p.num_samples} samples"
    lines = ["# Samples", "",
             f"{p.length} characters after each prefix: greedy (argmax, as the book does) and sampled "
             f"(temperature {p.temperature}, top-k {p.top_k or 'off'}, seed {p.seed} + the prefix's position{samples}).",
             ""]
    for i, prefix in enumerate(p.prefixes):
        unknown = generator.unknown_characters(prefix)
        if unknown:
            warn(f"prefix {prefix!r}: {''.join(unknown)!r} not in the vocabulary, read as <unk>")
        (greedy,) = generator.continue_text(prefix, p.length)
        # Each prefix draws from its own seed, so prefixes never share a random stream.
        sampled = generator.continue_text(prefix, p.length, p.temperature, p.top_k, p.seed + i, p.num_samples)
        lines += [f"## {prefix}", "", f"- greedy: {greedy}", *(f"- sampled: {text}" for text in sampled), ""]
    write_text(SAMPLES_PATH, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    run_stage(main)
