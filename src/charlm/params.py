"""The one params loader: `params.yaml` -> a frozen, validated dataclass per stage section.

Each stage asks for its own section only, and every field of that section is a key the stage
reads, so `dvc.yaml` declares exactly the fields below (a test checks that they agree).
"""

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from charlm.errors import UserError
from charlm.io import read_bytes_at_most

DEFAULT_PATH = "params.yaml"
MAX_GENERATE_LENGTH = 10_000
MAX_PREFIX_LENGTH = 1_000
MAX_SEED = 2**32 - 1            # NumPy's global seed, which Keras sets, takes 32 bits
MIN_TEMPERATURE = 0.01          # already greedy in all but name; far lower ones overflow logits / T
MAX_TEMPERATURE = 3.4e38        # float32's largest, nearly: a larger one reaches the tensor as infinity
MAX_SAMPLES = 1_024
# The repetition penalty multiplies a log-probability, which for the most probable character is at
# least -log(vocabulary size) > -22: bounded, that character's penalised score stays finite in
# float32 even divided by MIN_TEMPERATURE (a larger penalty could make every score -inf).
MAX_REPETITION_PENALTY = 1e30
MAX_REPETITION_WINDOW = MAX_PREFIX_LENGTH + MAX_GENERATE_LENGTH  # the longest context a continuation has
# Integers that reach a tensor must fit its type: top-k is an int32 (K at least the vocabulary's
# size keeps every character, as 0 does), and prefix i draws from the int64 seed + i, so the stage
# and `charlm generate` also check that seed + the number of prefixes - 1 fits.
MAX_TOP_K = 2**31 - 1
MAX_GENERATE_SEED = 2**63 - 1
# The sampler `charlm generate` uses unless told otherwise, and params.yaml's generate section
# holds the same (a test checks): chosen on validation prefixes by benchmarks/sampling_sweep.py.
# Greedy decoding (--greedy, and the stage's greedy lines) takes none of them.
# The value of each sampling control that turns it off (the loop then draws as without it).
NEUTRAL_CONTROLS = {"top_p": 1.0, "min_p": 0.0, "repetition_penalty": 1.0, "repetition_window": 0}
SAMPLER_DEFAULTS = {"temperature": 1.0, "top_k": 0, "top_p": 0.85, "min_p": 0.0, "repetition_penalty": 1.3,
                    "repetition_window": 20}
# Sizes a model can be built and trained with on one machine (a 16,384-wide GRU already holds
# 3 GB of weights); beyond them a typo would allocate without end instead of failing.
MAX_WIDTH = 16_384              # train.hidden_size and train.embedding_dim
MAX_LAYERS = 64
MAX_NUM_STEPS = 10_000
MAX_BATCH_SIZE = 65_536
MAX_EPOCHS = 100_000
LIMIT_REASONS = {
    "embedding_dim": "the widest layer this code builds", "hidden_size": "the widest layer this code builds",
    "num_layers": "the most layers this code builds", "num_steps": "the longest window this code trains on",
    "batch_size": "the most streams this code trains at once", "epochs": "the most epochs this code runs",
    "top_k": "int32's largest (any K at least the vocabulary's size keeps every character, as 0 does)",
    "seed": "int64's largest", "temperature": "float32's largest (a larger one reaches the model as infinity)",
    "repetition_penalty": "the largest whose penalised scores stay finite in float32",
}
MAX_PARAMS_BYTES = 2**20        # a params file is a few kB; an endless one (/dev/zero) is refused


def _spec(kind, *, min=None, max=None, min_open=False, max_open=False, limit=None, choices=None, optional=False):
    """Field metadata that `_check_value` enforces: a kind and, for numbers, a range. `limit` is
    the largest value the code can honour (a tensor's type, memory), as opposed to the range the
    value makes sense in; it is named only to a value beyond it."""
    return field(metadata=dict(kind=kind, min=min, max=max, min_open=min_open, max_open=max_open, limit=limit,
                               choices=choices, optional=optional))


@dataclass(frozen=True)
class UnzipParams:
    path: str = _spec(str)                          # the corpus: a UTF-8 text file or a .zip
    member: str | None = _spec(str, optional=True)  # the text file inside a .zip
    newlines_to_spaces: bool = _spec(bool)
    max_chars: int | None = _spec(int, min=1, optional=True)


@dataclass(frozen=True)
class VocabParams:
    valid_fraction: float = _spec(float, min=0.0, max=1.0, max_open=True)
    test_fraction: float = _spec(float, min=0.0, max=1.0, max_open=True)
    min_count: int = _spec(int, min=1)


@dataclass(frozen=True)
class TrainParams:
    seed: int = _spec(int, min=0, max=MAX_SEED)
    input: str = _spec(str, choices=("one_hot", "embedding"))
    embedding_dim: int = _spec(int, min=1, limit=MAX_WIDTH)
    cell: str = _spec(str, choices=("gru", "lstm", "rnn"))
    hidden_size: int = _spec(int, min=1, limit=MAX_WIDTH)
    num_layers: int = _spec(int, min=1, limit=MAX_LAYERS)
    dropout: float = _spec(float, min=0.0, max=1.0, max_open=True)
    recurrent_dropout: float = _spec(float, min=0.0, max=1.0, max_open=True)
    tie_embeddings: bool = _spec(bool)
    num_steps: int = _spec(int, min=1, limit=MAX_NUM_STEPS)
    batch_size: int = _spec(int, min=1, limit=MAX_BATCH_SIZE)
    epochs: int = _spec(int, min=1, limit=MAX_EPOCHS)
    optimizer: str = _spec(str, choices=("adam", "sgd"))
    lr: float = _spec(float, min=0.0, min_open=True)
    lr_decay: float = _spec(float, min=0.0, max=1.0, min_open=True)
    clip_norm: float = _spec(float, min=0.0, min_open=True)
    weight_decay: float = _spec(float, min=0.0)
    random_offset: bool = _spec(bool)
    patience: int = _spec(int, min=0)
    checkpoint_windows: int = _spec(int, min=0)  # windows between progress lines and mid-epoch checkpoints; 0: epoch ends only
    distribute: str = _spec(str, choices=("none", "mirrored", "multi_worker"))  # charlm.distribute


@dataclass(frozen=True)
class EvaluateParams:
    ngram_order: int = _spec(int, min=1, max=32)
    ngram_discount: float = _spec(float, min=0.0, max=1.0, min_open=True, max_open=True)
    adaptive_ngram_order: int = _spec(int, min=1, max=32)
    adaptive_ngram_discount: float = _spec(float, min=0.0, max=1.0, min_open=True, max_open=True)
    local_ngram_order: int = _spec(int, min=1, max=32)
    mixer_lr: float = _spec(float, min=0.0)
    adaptive_max_chars: int | None = _spec(int, min=2, optional=True)  # per held-out part read adaptively; None: all


@dataclass(frozen=True)
class DynamicParams:
    """Dynamic evaluation of the network, shared by `evaluate` and an adaptive `generate`."""
    segment: int = _spec(int, min=1, max=1000)
    lr: float = _spec(float, min=0.0)
    decay: float = _spec(float, min=0.0)
    softening: float = _spec(float, min=0.0)


@dataclass(frozen=True)
class GenerateParams:
    prefixes: list = _spec(list)
    length: int = _spec(int, min=1, max=MAX_GENERATE_LENGTH)
    temperature: float = _spec(float, min=MIN_TEMPERATURE, limit=MAX_TEMPERATURE)
    top_k: int = _spec(int, min=0, limit=MAX_TOP_K)
    top_p: float = _spec(float, min=0.0, max=1.0, min_open=True)    # 1: off
    min_p: float = _spec(float, min=0.0, max=1.0)                   # 0: off
    repetition_penalty: float = _spec(float, min=1.0, limit=MAX_REPETITION_PENALTY)  # 1: off
    repetition_window: int = _spec(int, min=0, max=MAX_REPETITION_WINDOW)           # 0: off
    seed: int = _spec(int, min=0, limit=MAX_GENERATE_SEED)
    num_samples: int = _spec(int, min=1, max=MAX_SAMPLES)
    adaptive: bool = _spec(bool)
    test_prefix_start: int = _spec(int, min=0)
    test_prefix_length: int = _spec(int, min=0, max=MAX_PREFIX_LENGTH)
    quality_samples: int = _spec(int, min=1, max=MAX_SAMPLES)
    quality_length: int = _spec(int, min=2, max=MAX_GENERATE_LENGTH)


SECTIONS = {
    "unzip": UnzipParams,
    "vocab": VocabParams,
    "train": TrainParams,
    "evaluate": EvaluateParams,
    "dynamic": DynamicParams,
    "generate": GenerateParams,
}

# The sections each stage reads: its own, and the shared ones it needs (export reads none).
STAGE_SECTIONS = {
    "unzip": ("unzip",),
    "vocab": ("vocab",),
    "train": ("train",),
    "evaluate": ("evaluate", "dynamic"),
    "generate": ("generate", "dynamic"),
    "export": (),
}


def section_keys(section: str) -> list[str]:
    """The dotted keys a section holds."""
    return [f"{section}.{f.name}" for f in dataclasses.fields(SECTIONS[section])]


def stage_keys(stage: str) -> list[str]:
    """The dotted keys a stage reads, as `dvc.yaml` must declare them."""
    return [key for section in STAGE_SECTIONS[stage] for key in section_keys(section)]


def load(section: str, path: str | Path = DEFAULT_PATH):
    """Read `path` and return the validated dataclass of `section`."""
    document = _read_yaml(Path(path))
    if section not in document:
        raise UserError(f"{path}: section '{section}' is missing; add it (see the README's params table)")
    values = document[section]
    if not isinstance(values, dict):
        raise UserError(f"{path}: section '{section}' must be a mapping of keys to values")
    params = _build(SECTIONS[section], section, values, path)
    _check_section(section, params, path)
    return params


def _read_yaml(path: Path) -> dict:
    data = read_bytes_at_most(path, MAX_PARAMS_BYTES, "a params file; name a YAML file such as params.yaml",
                              "params file not found; run from the project root or restore it from git")
    if len(data) > MAX_PARAMS_BYTES:
        raise UserError(f"{path}: more than {MAX_PARAMS_BYTES:,} bytes, too large for a params file; "
                        f"name a YAML file such as params.yaml")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise UserError(f"{path}: malformed YAML{where}: {problem}") from None
    if not isinstance(document, dict):
        raise UserError(f"{path}: expected a mapping of sections (unzip, vocab, train, ...) at the top level")
    return document


def _build(cls, section: str, values: dict, path) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            close = _closest(str(key), list(fields))
            hint = f"; did you mean '{section}.{close}'?" if close else f"; known keys: {', '.join(fields)}"
            raise UserError(f"{path}: unknown key '{section}.{key}'{hint}")
    missing = [name for name in fields if name not in values]
    if missing:
        raise UserError(f"{path}: missing key '{section}.{missing[0]}'; add it to the '{section}' section")
    checked = {name: _check_value(f"{section}.{name}", values[name], f.metadata, path) for name, f in fields.items()}
    return cls(**checked)


def check_field(cls, name: str, value: Any, where) -> Any:
    """`value` checked against the type and range of field `name` of the params dataclass `cls`,
    for a file that holds such values outside params.yaml (a model's config.json): UserError
    naming `where` and the key when it does not fit."""
    spec = next(f for f in dataclasses.fields(cls) if f.name == name).metadata
    return _check_value(name, value, spec, where)


def _closest(key: str, known: list[str]) -> str | None:
    """The known key a typo most likely meant: by spelling, or by initials (learning_rate -> lr)."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    if close:
        return close[0]
    initials = "".join(word[:1] for word in key.split("_"))
    return next((name for name in known if name == initials), None)


def _check_value(key: str, value: Any, spec, path) -> Any:
    kind = spec["kind"]
    if value is None:
        if spec["optional"]:
            return None
        raise UserError(f"{path}: '{key}' has no value; give it a {kind.__name__}")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is list and isinstance(value, str):
        value = [value]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise UserError(f"{path}: '{key}' must be {_kind_name(kind)}, got {value!r}")
    if kind is float and not math.isfinite(value):
        raise UserError(f"{path}: '{key}' must be a finite number, got {value!r}")
    for text in (value if kind is list else [value] if kind is str else []):
        if isinstance(text, str) and not _is_unicode_text(text):
            raise UserError(f"{path}: '{key}' holds a lone surrogate ({text!r}), which no UTF-8 file can hold; "
                            f"write the character itself")
    if spec["choices"] and value not in spec["choices"]:
        raise UserError(f"{path}: '{key}' must be one of {', '.join(spec['choices'])}; got {value!r}")
    low, high = spec["min"], spec["max"]
    too_low = low is not None and (value <= low if spec["min_open"] else value < low)
    too_high = high is not None and (value >= high if spec["max_open"] else value > high)
    if too_low or too_high:
        raise UserError(f"{path}: '{key}' must be {_range_text(spec)}, got {value!r}")
    if spec["limit"] is not None and value > spec["limit"]:
        raise UserError(f"{path}: '{key}' must be at most {spec['limit']}, {LIMIT_REASONS[key.split('.')[-1]]}; "
                        f"got {value!r}")
    return value


def _is_unicode_text(text: str) -> bool:
    """False for a string holding lone surrogates (YAML lets "\\ud800" through), which no UTF-8 output can hold."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _kind_name(kind) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            list: "a list of strings"}[kind]


def _range_text(spec) -> str:
    parts = []
    if spec["min"] is not None:
        parts.append(f"{'>' if spec['min_open'] else '>='} {spec['min']}")
    if spec["max"] is not None:
        parts.append(f"{'<' if spec['max_open'] else '<='} {spec['max']}")
    return " and ".join(parts)


def _check_section(section: str, params, path) -> None:
    """Rules that span several keys of one section."""
    if section == "unzip" and not params.path:
        raise UserError(f"{path}: 'unzip.path' is empty; name a UTF-8 text file or a .zip holding one")
    if section == "vocab" and params.valid_fraction + params.test_fraction >= 1.0:
        raise UserError(f"{path}: 'vocab.valid_fraction' + 'vocab.test_fraction' must be < 1 so that the "
                        f"train part is not empty; got {params.valid_fraction} + {params.test_fraction}")
    if section == "train" and params.tie_embeddings and (params.input != "embedding"
                                                        or params.embedding_dim != params.hidden_size):
        raise UserError(f"{path}: 'train.tie_embeddings' needs train.input: embedding and train.embedding_dim equal "
                        f"to train.hidden_size; got {params.input}, {params.embedding_dim} and {params.hidden_size}")
    if section == "generate":
        if not params.prefixes:
            raise UserError(f"{path}: 'generate.prefixes' is empty; give at least one prefix such as 分开")
        for prefix in params.prefixes:
            if not isinstance(prefix, str) or not prefix:
                raise UserError(f"{path}: 'generate.prefixes' must hold non-empty strings; got {prefix!r}")
            if len(prefix) > MAX_PREFIX_LENGTH:
                raise UserError(f"{path}: a prefix in 'generate.prefixes' has {len(prefix)} characters; "
                                f"the limit is {MAX_PREFIX_LENGTH}")
        if params.repetition_penalty > 1 and params.repetition_window == 0:
            raise UserError(f"{path}: 'generate.repetition_penalty' is {params.repetition_penalty} but "
                            f"'generate.repetition_window' is 0, which turns the penalty off; give the window "
                            f"(the number of recent characters penalised) or set the penalty to 1")
        last_seed = params.seed + len(params.prefixes) - 1
        if last_seed > MAX_GENERATE_SEED:
            raise UserError(f"{path}: 'generate.seed' + the number of prefixes - 1 = {last_seed} is beyond the largest "
                            f"64-bit seed ({MAX_GENERATE_SEED}), from which the last prefix would draw; lower "
                            f"'generate.seed' to at most {MAX_GENERATE_SEED - len(params.prefixes) + 1}")
