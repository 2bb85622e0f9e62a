"""Stage 5: trained model -> reports/samples.md and metrics/samples.json: sampled and greedy
continuations of each prefix with measures of how they read beside real held-out text, and a long
prefix from the test part continued statically and adaptively."""

import this_checkout  # noqa: F401  (first: this checkout's src/, not an installed copy's)
from charlm import params
from charlm.cli import run_stage, write_line
from charlm.errors import UserError
from charlm.io import load_array, read_text, write_json, write_text
from charlm.model_files import check_model_files
from charlm.vocab import read_vocabulary

PROCESSED = "data/processed"
MODEL_DIR = "models"
SAMPLES_PATH = "reports/samples.md"
QUALITY_PATH = "metrics/samples.json"
SHOWN_PER_PREFIX = 4  # of the measured samples, how many reports/samples.md prints


def main() -> None:
    p = params.load("generate")
    dynamic = params.load("dynamic")
    vocab = read_vocabulary(f"{PROCESSED}/vocab.json")
    check_model_files(MODEL_DIR, vocab.fingerprint(), vocab.size)  # before TensorFlow starts
    long_prefix, what_follows = _test_prefix(read_text(f"{PROCESSED}/test.txt", "vocab"), p)
    train_ids = load_array(f"{PROCESSED}/train.npy", "vocab")
    train_text, valid_text = read_text(f"{PROCESSED}/train.txt", "vocab"), read_text(f"{PROCESSED}/valid.txt", "vocab")

    from charlm.sample_quality import CopyDetector, figures, held_out_pieces
    from charlm.continuation import adaptive_reader, continue_prefixes, load_generator, warn_about_unknown_characters
    from charlm.generation import Controls

    controls = Controls(p.top_p, p.min_p, p.repetition_penalty, p.repetition_window)
    generator = load_generator(MODEL_DIR, vocab)
    warn_about_unknown_characters(generator, p.prefixes)
    reader = (adaptive_reader(generator, train_ids, dynamic)
              if p.adaptive or long_prefix else None)
    prefix_reader = reader if p.adaptive else None
    greedy = continue_prefixes(generator, p.prefixes, p.length, reader=prefix_reader)
    sampled = continue_prefixes(generator, p.prefixes, p.length, p.temperature, p.top_k, p.seed, p.num_samples,
                                reader=prefix_reader, controls=controls)
    # How the sampler's text reads: a batch per prefix, measured beside real held-out text.
    measured = continue_prefixes(generator, p.prefixes, p.quality_length, p.temperature, p.top_k, p.seed,
                                 p.quality_samples, reader=prefix_reader, controls=controls)
    continuations = {"sampled": [t[len(prefix):] for prefix, texts in zip(p.prefixes, measured) for t in texts],
                     "greedy": [t[len(prefix):] for prefix, (t,) in zip(p.prefixes, continue_prefixes(
                         generator, p.prefixes, p.quality_length, reader=prefix_reader))],
                     # At most as many pieces as sampled continuations, spread over the part: what
                     # measuring them costs does not grow with the corpus.
                     "held_out": held_out_pieces(valid_text, p.quality_length, len(p.prefixes) * p.quality_samples)}
    copies = CopyDetector(train_text)
    quality = {name: figures(texts, copies) for name, texts in continuations.items() if texts}
    quality["settings"] = {"length": p.quality_length, "samples_per_prefix": p.quality_samples,
                           "prefixes": len(p.prefixes), "temperature": p.temperature, "top_k": p.top_k,
                           "top_p": p.top_p, "min_p": p.min_p, "repetition_penalty": p.repetition_penalty,
                           "repetition_window": p.repetition_window,
                           "held_out": "the validation part in consecutive pieces; at most as many as sampled "
                                       "continuations, spread evenly over it"}
    write_json(QUALITY_PATH, quality)

    adaptive = " Each prefix is read adaptively first (generate.adaptive)." if p.adaptive else ""
    sampler = (f"temperature {p.temperature}, top-k {p.top_k or 'off'}{_controls_text(p)}, "
               f"seed {p.seed} + the prefix's position")
    lines = ["# Samples", "",
             f"Sampled continuations ({sampler}): {p.quality_samples} of {p.quality_length} characters per "
             f"prefix are drawn as one batch and measured (metrics/samples.json); the first {SHOWN_PER_PREFIX} are "
             f"shown. Beside them, the same measures of the book's greedy decoding and of real held-out text "
             f"(the validation part) cut into pieces of the same length.{adaptive}", "",
             *_quality_table(quality), ""]
    for prefix, texts in zip(p.prefixes, measured):
        lines += [f"## {prefix}", "", *(f"- {text}" for text in texts[:SHOWN_PER_PREFIX]), ""]
    samples = "" if p.num_samples == 1 else f", {p.num_samples} samples"
    lines += ["## Greedy, as the book decodes", "",
              f"{p.length} characters after each prefix: greedy (argmax) and sampled ({sampler}{samples}).", ""]
    for prefix, (greedy_text,), sampled_texts in zip(p.prefixes, greedy, sampled):
        lines += [f"- greedy: {greedy_text}", *(f"- sampled: {text}" for text in sampled_texts)]
    lines += [""]
    if long_prefix:
        def after_prefix(**how) -> str:
            [[text]] = continue_prefixes(generator, [long_prefix], p.length, **how)
            return text[len(long_prefix):]

        sampler_settings = dict(temperature=p.temperature, top_k=p.top_k, seed=p.seed, controls=controls)
        end = p.test_prefix_start + len(long_prefix)
        lines += ["## A long prefix from the test part, read statically and adaptively", "",
                  f"Characters {p.test_prefix_start}-{end} of the test part, which training never saw, then "
                  f"{p.length} characters sampled ({sampler}) and greedy. Read adaptively, the prefix first "
                  f"teaches the network: a dynamic-evaluation step on each {dynamic.segment}-character segment "
                  f"(dynamic.*).", "",
                  f"> {long_prefix}", "",
                  f"- sampled, static: …{after_prefix(**sampler_settings)}",
                  f"- sampled, adaptive: …{after_prefix(**sampler_settings, reader=reader)}",
                  f"- greedy, static: …{after_prefix()}",
                  f"- greedy, adaptive: …{after_prefix(reader=reader)}",
                  f"- what the test part says next: …{what_follows}", ""]
    write_text(SAMPLES_PATH, "\n".join(lines))
    write_line("\n".join(lines))


def _controls_text(p) -> str:
    """The sampling controls that are on, as the report names them ("" when all are off)."""
    parts = [f", top-p {p.top_p}" if p.top_p < 1 else "", f", min-p {p.min_p}" if p.min_p > 0 else "",
             f", repetition penalty {p.repetition_penalty} over the last {p.repetition_window} characters"
             if p.repetition_penalty > 1 else ""]
    return "".join(parts)


def _quality_table(quality: dict) -> list[str]:
    rows = [("sampled", "sampled"), ("greedy", "greedy (the book)"), ("held_out", "real held-out text")]
    columns = [("distinct_1", "distinct-1"), ("distinct_2", "distinct-2"), ("top8_share", "top-8 share"),
               ("loop_fraction", "looping"), ("longest_copy_median", "longest copy, median"),
               ("longest_copy_max", "max"), ("copied_8gram_share", "8-grams from train"), ("unk", "<unk>")]
    lines = ["| | " + " | ".join(title for _, title in columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for key, title in rows:
        if key in quality:
            lines.append(f"| {title} | " + " | ".join(f"{quality[key][c]:g}" for c, _ in columns) + " |")
    return lines


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
