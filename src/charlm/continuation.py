"""Continue prefixes with a trained model: the one code path of the generate stage and
`charlm generate`, so that both print the same text for the same settings."""

from pathlib import Path

from charlm.cli import warn
from charlm.model import load_model
from charlm.sampling import GREEDY, Sampling, TextGenerator
from charlm.vocab import Vocabulary


def load_generator(model_dir: str | Path, vocab: Vocabulary) -> TextGenerator:
    return TextGenerator(load_model(model_dir, vocab.fingerprint()), vocab)


def continue_prefixes(generator: TextGenerator, prefixes: list[str], length: int,
                      temperature: float | None = None, top_k: int = 0, seed: int = 0) -> list[str]:
    """Each prefix followed by `length` characters: greedy when `temperature` is None, else sampled,
    prefix i drawing from seed + i so that prefixes never share a random stream."""
    samplings = [GREEDY if temperature is None else Sampling(temperature, top_k, seed + i)
                 for i in range(len(prefixes))]
    return [generator.continue_text(prefix, length, sampling) for prefix, sampling in zip(prefixes, samplings)]


def warn_about_unknown_characters(generator: TextGenerator, prefixes: list[str]) -> None:
    for prefix in prefixes:
        unknown = generator.unknown_characters(prefix)
        if unknown:
            warn(f"prefix {prefix!r}: {''.join(unknown)!r} not in the vocabulary, read as <unk>")
