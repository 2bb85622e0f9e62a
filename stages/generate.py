"""Stage 5: trained model -> reports/samples.md: greedy and sampled continuations of each prefix,
and a long prefix from the test part continued statically and adaptively."""

import this_checkout  # noqa: F401  (first: this checkout's src/, not an installed copy's)
from charlm import params
from charlm.cli import run_stage
from charlm.errors import UserError
from charlm.io import load_array, read_text, write_text
from charlm.vocab import read_vocabulary

PROCESSED = "data/processed"
MODEL_DIR = "models"
SAMPLES_PATH = "reports/samples.md"


def main() -> None:
    p = params.load("generate")
    dynamic = params.load("dynamic")
    vocab = read_vocabulary(f"{PROCESSED}/vocab.json")
    long_prefix, what_follows = _test_prefix(read_text(f"{PROCESSED}/test.txt", "vocab"), p)
    train_ids = load_array(f"{PROCESSED}/train.npy", "vocab")

    from charlm.continuation import adaptive_reader, continue_prefixes, load_generator, warn_about_unknown_characters

    generator = load_generator(MODEL_DIR, vocab)
    warn_about_unknown_characters(generator, p.prefixes)
    reader = (adaptive_reader(generator, train_ids, dynamic)
              if p.adaptive or long_prefix else None)
    prefix_reader = reader if p.adaptive else None
    greedy = continue_prefixes(generator, p.prefixes, p.length, reader=prefix_reader)
    sampled = continue_prefixes(generator, p.prefixes, p.length, p.temperature, p.top_k, p.seed, p.num_samples,
                                reader=prefix_reader)
    samples = "" if p.num_samples == 1 else f", {p.num_samples} samples"
    adaptive = " Each prefix is read adaptively first (generate.adaptive)." if p.adaptive else ""
    lines = ["# Samples", "",
             f"{p.length} characters after each prefix: greedy (argmax, as the book does) and sampled "
             f"(temperature {p.temperature}, top-k {p.top_k or 'off'}, seed {p.seed} + the prefix's position{samples})."
             f"{adaptive}", ""]
    for prefix, (greedy_text,), sampled_texts in zip(p.prefixes, greedy, sampled):
        lines += [f"## {prefix}", "", f"- greedy: {greedy_text}", *(f"- sampled: {text}" for text in sampled_texts), ""]
    if long_prefix:
        [[static]] = continue_prefixes(generator, [long_prefix], p.length)
        [[adapted]] = continue_prefixes(generator, [long_prefix], p.length, reader=reader)
        end = p.test_prefix_start + len(long_prefix)
        lines += ["## A long prefix from the test part, read statically and adaptively", "",
                  f"Characters {p.test_prefix_start}-{end} of the test part, which training never saw, then "
                  f"{p.length} greedy characters. Read adaptively, the prefix first teaches the network: a "
                  f"dynamic-evaluation step on each {dynamic.segment}-character segment (dynamic.*).", "",
                  f"> {long_prefix}", "",
                  f"- static: …{static[len(long_prefix):]}",
                  f"- adaptive: …{adapted[len(long_prefix):]}",
                  f"- what the test part says next: …{what_follows}", ""]
    write_text(SAMPLES_PATH, "\n".join(lines))
    print("\n".join(lines))


def _test_prefix(test_text: str, p) -> tuple[str, str]:
    """The long prefix the params cut from the test part, and the characters that follow it there."""
    if not p.test_prefix_length:
        return "", ""
    end = p.test_prefix_start + p.test_prefix_length
    if end > len(test_text):
        raise UserError(f"generate.test_prefix_start + generate.test_prefix_length = {end} runs past the test part "
                        f"({len(test_text):,} characters); lower them, or set generate.test_prefix_length to 0")
    return test_text[p.test_prefix_start:end], test_text[end:end + p.length]


if __name__ == "__main__":
    run_stage(main)
