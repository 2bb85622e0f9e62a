"""Continue prefixes with a trained model: the one code path of the generate stage and
`charlm generate`, so that both print the same text for the same settings. Each continuation is
one call of the compiled loop in charlm.generation."""

from pathlib import Path

from charlm.cli import warn
from charlm.generation import Generator
from charlm.model import load_model
from charlm.vocab import Vocabulary


def load_generator(model_dir: str | Path, vocab: Vocabulary) -> Generator:
    return Generator(load_model(model_dir, vocab.fingerprint()), vocab)


def continue_prefixes(generator: Generator, prefixes: list[str], length: int, temperature: float | None = None,
                      top_k: int = 0, seed: int = 0, num_samples: int = 1) -> list[list[str]]:
    """`num_samples` continuations of each prefix, `length` characters each: greedy when
    `temperature` is None (one per prefix), else sampled, prefix i drawing from seed + i so that
    prefixes never share a random stream."""
    if temperature is None:
        return [generator.continue_text(prefix, length) for prefix in prefixes]
    return [generator.continue_text(prefix, length, temperature, top_k, seed + i, num_samples)
            for i, prefix in enumerate(prefixes)]


def warn_about_unknown_characters(generator: Generator, prefixes: list[str]) -> None:
    for prefix in prefixes:
        unknown = generator.unknown_characters(prefix)
        if unknown:
            warn(f"prefix {prefix!r}: {''.join(unknown)!r} not in the vocabulary, read as <unk>")
