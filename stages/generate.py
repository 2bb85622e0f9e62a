"""Stage 5: trained model -> reports/samples.md, greedy and sampled continuations of each prefix."""

from charlm import params
from charlm.cli import run_stage
from charlm.io import read_text, write_text
from charlm.vocab import Vocabulary

PROCESSED = "data/processed"
MODEL_DIR = "models"
SAMPLES_PATH = "reports/samples.md"


def main() -> None:
    p = params.load("generate")
    vocab = Vocabulary.from_json(read_text(f"{PROCESSED}/vocab.json", "vocab"))

    from charlm.continuation import continue_prefixes, load_generator, warn_about_unknown_characters

    generator = load_generator(MODEL_DIR, vocab)
    warn_about_unknown_characters(generator, p.prefixes)
    greedy = continue_prefixes(generator, p.prefixes, p.length)
    sampled = continue_prefixes(generator, p.prefixes, p.length, p.temperature, p.top_k, p.seed, p.num_samples)
    samples = "" if p.num_samples == 1 else f", {p.num_samples} samples"
    lines = ["# Samples", "",
             f"{p.length} characters after each prefix: greedy (argmax, as the book does) and sampled "
             f"(temperature {p.temperature}, top-k {p.top_k or 'off'}, seed {p.seed} + the prefix's position{samples}).",
             ""]
    for prefix, (greedy_text,), sampled_texts in zip(p.prefixes, greedy, sampled):
        lines += [f"## {prefix}", "", f"- greedy: {greedy_text}", *(f"- sampled: {text}" for text in sampled_texts), ""]
    write_text(SAMPLES_PATH, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    run_stage(main)
