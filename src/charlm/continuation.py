"""Continue prefixes with a trained model: the one code path of the generate stage and
`charlm generate`, so that both print the same text for the same settings. Each continuation is
one call of the compiled loop in charlm.generation.

Read adaptively, a prefix first teaches the network: it is read with dynamic evaluation (the
weights take a step on each segment, as in `evaluate`'s adaptive figures), and the continuation
is written with the weights it left; they are restored before the next prefix.
"""

from pathlib import Path

import numpy as np

from charlm.cli import warn
from charlm.dynamic import DynamicEvaluator
from charlm.generation import Controls, Generator
from charlm.model import load_model
from charlm.vocab import Vocabulary


def load_generator(model_dir: str | Path, vocab: Vocabulary) -> Generator:
    return Generator(load_model(model_dir, vocab.fingerprint(), vocab.size), vocab)


def adaptive_reader(generator: Generator, train_ids: np.ndarray, dynamic) -> DynamicEvaluator:
    """Dynamic evaluation over the generator's network with the `dynamic` params section, its step
    sizes measured on the train part."""
    reader = DynamicEvaluator(generator.model, generator.vocab.unk_share, dynamic.segment, dynamic.lr, dynamic.decay,
                              dynamic.softening)
    reader.measure_gradients(train_ids)
    return reader


def continue_prefixes(generator: Generator, prefixes: list[str], length: int, temperature: float | None = None,
                      top_k: int = 0, seed: int = 0, num_samples: int = 1,
                      reader: DynamicEvaluator | None = None, controls: Controls = Controls()) -> list[list[str]]:
    """`num_samples` continuations of each prefix, `length` characters each: greedy when
    `temperature` is None (one per prefix), else sampled, prefix i drawing from seed + i so that
    prefixes never share a random stream; `controls` (top-p, min-p, the repetition penalty) apply
    to both, as far as each applies to greedy decoding (charlm.generation). With a `reader`, each
    prefix is read adaptively first."""
    def one(i: int, prefix: str) -> list[str]:
        if temperature is None:
            return generator.continue_text(prefix, length, controls=controls)
        return generator.continue_text(prefix, length, temperature, top_k, seed + i, num_samples, controls)

    if reader is None:
        return [one(i, prefix) for i, prefix in enumerate(prefixes)]
    texts = []
    for i, prefix in enumerate(prefixes):
        with reader.adapting():
            reader.adapt(generator.vocab.encode(prefix))
            texts.append(one(i, prefix))
    return texts


def stream_prefix(generator: Generator, prefix: str, length: int, temperature: float | None = None, top_k: int = 0,
                  seed: int = 0, reader: DynamicEvaluator | None = None, controls: Controls = Controls()):
    """The characters of `continue_prefixes(generator, [prefix], length, ...)`'s one continuation
    (without the prefix), yielded a chunk at a time as they are made (`Generator.stream_text`)."""
    def pieces():
        if temperature is None:
            return generator.stream_text(prefix, length, controls=controls)
        return generator.stream_text(prefix, length, temperature, top_k, seed, controls)

    if reader is None:
        yield from pieces()
        return
    with reader.adapting():
        reader.adapt(generator.vocab.encode(prefix))
        yield from pieces()


def warn_about_unknown_characters(generator: Generator, prefixes: list[str]) -> None:
    for prefix in prefixes:
        unknown = generator.unknown_characters(prefix)
        if unknown:
            warn(f"prefix {prefix!r}: {''.join(unknown)!r} not in the vocabulary, read as <unk>")
