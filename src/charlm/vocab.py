"""Contiguous train/validation/test splits and a sorted character vocabulary with `<unk>`.

The vocabulary is built from the train part only. Characters seen fewer than `min_count` times
in it are folded into `<unk>`, which also stands for every character never seen in training.
Evaluation scores against one fixed class set (every train character, plus one class for unseen
ones), so perplexities stay comparable whatever `min_count` is.
"""

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charlm.errors import UserError
from charlm.io import read_text

UNK = "<unk>"
UNK_ID = 0


@dataclass(frozen=True)
class Splits:
    train: str
    valid: str
    test: str


def split_corpus(text: str, valid_fraction: float, test_fraction: float) -> Splits:
    """Cut `text` into contiguous train, validation and test parts, in that order."""
    n_valid = int(round(len(text) * valid_fraction))
    n_test = int(round(len(text) * test_fraction))
    n_train = len(text) - n_valid - n_test
    if n_train < 2:
        raise UserError(f"the split leaves {n_train} characters for training; lower vocab.valid_fraction "
                        f"and vocab.test_fraction or use a longer corpus")
    return Splits(text[:n_train], text[n_train:n_train + n_valid], text[n_train + n_valid:])


@dataclass(frozen=True)
class Vocabulary:
    tokens: tuple[str, ...]          # index -> token; tokens[UNK_ID] == UNK, the rest sorted
    folded: tuple[str, ...]          # train characters folded into <unk> (rarer than min_count)

    @property
    def size(self) -> int:
        return len(self.tokens)

    @property
    def class_count(self) -> int:
        """Size of the fixed evaluation class set: every train character plus one unseen class."""
        return self.size - 1 + len(self.folded) + 1

    @property
    def unk_share(self) -> int:
        """How many classes share `<unk>`'s probability: the folded characters and the unseen class."""
        return len(self.folded) + 1

    def class_vocabulary(self) -> "Vocabulary":
        """The fixed evaluation class set as a vocabulary of its own: nothing folded, `<unk>` left
        for unseen characters only. Baselines that need no folding (the n-gram) count over it."""
        return Vocabulary((UNK, *sorted(self.tokens[1:] + self.folded)), ())

    def encode(self, text: str) -> np.ndarray:
        index = {token: i for i, token in enumerate(self.tokens)}
        return np.fromiter((index.get(ch, UNK_ID) for ch in text), dtype=np.int32, count=len(text))

    def decode(self, ids) -> str:
        return "".join(self.tokens[int(i)] for i in ids)

    def to_json(self) -> str:
        return json.dumps({"tokens": list(self.tokens), "folded": list(self.folded)}, ensure_ascii=False, indent=0) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Vocabulary":
        """The vocabulary `to_json` wrote; ValueError, saying what is wrong, for anything else."""
        data = json.loads(text)
        if not isinstance(data, dict) or set(data) != {"tokens", "folded"}:
            raise ValueError("expected an object with the keys 'tokens' and 'folded' alone, got "
                             + (f"keys {', '.join(map(repr, data))}" if isinstance(data, dict) else type(data).__name__))
        tokens, folded = data["tokens"], data["folded"]
        for key, items in (("tokens", tokens), ("folded", folded)):
            if not isinstance(items, list):
                raise ValueError(f"'{key}' must be a list, got {type(items).__name__}")
        if len(tokens) < 2 or tokens[0] != UNK:
            raise ValueError(f"'tokens' must begin with {UNK!r} and hold at least one character, got {tokens[:2]!r}")
        for key, characters in (("tokens", tokens[1:]), ("folded", folded)):
            bad = [c for c in characters if not (isinstance(c, str) and len(c) == 1)]
            if bad:
                raise ValueError(f"'{key}' must hold single characters, got {bad[0]!r}")
            if characters != sorted(set(characters)):
                raise ValueError(f"'{key}' must be sorted, each character once")
        if set(tokens).intersection(folded):
            raise ValueError("a character is both in 'tokens' and in 'folded'")
        return cls(tuple(tokens), tuple(folded))

    def fingerprint(self) -> str:
        """A hash of the vocabulary, stored beside the weights to catch a mismatched model."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()[:16]


def read_vocabulary(path: str | Path) -> Vocabulary:
    """The vocab stage's vocab.json, checked (a file edited or not written by the stage is an error)."""
    try:
        return Vocabulary.from_json(read_text(path, "vocab"))
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError among them
        raise UserError(f"{path}: not a vocabulary the vocab stage wrote ({e}); rerun `dvc repro --force vocab`") from None


def build_vocabulary(train_text: str, min_count: int = 1) -> Vocabulary:
    counts = Counter(train_text)
    kept = sorted(ch for ch, n in counts.items() if n >= min_count)
    folded = sorted(ch for ch, n in counts.items() if n < min_count)
    if not kept:  # a vocabulary of <unk> alone could only ever predict <unk>
        raise UserError(f"vocab.min_count={min_count} folds every character into <unk> (the most frequent train "
                        f"character occurs {max(counts.values(), default=0)} times); lower it")
    return Vocabulary((UNK, *kept), tuple(folded))


def oov_rate(vocab: Vocabulary, text: str) -> float:
    """Fraction of the characters of `text` that the vocabulary reads as `<unk>`."""
    if not text:
        return 0.0
    return float(np.mean(vocab.encode(text) == UNK_ID))


def share_unk(log_probs: np.ndarray, targets: np.ndarray, unk_share: int) -> np.ndarray:
    """Turn log P(id) into log P(character) on the fixed class set: a target read as `<unk>`
    gets an even share of `<unk>`'s probability among the `unk_share` classes it stands for."""
    return log_probs - (np.asarray(targets) == UNK_ID) * np.log(unk_share)
