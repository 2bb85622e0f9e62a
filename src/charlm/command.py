"""The `charlm` command: continue prefixes and score text with the trained model of a working copy.

As thin as a stage script: it parses arguments and calls the library code the stages call
(`charlm.continuation` as the generate stage does, `charlm.scoring` as the evaluate stage does),
so the command and the pipeline cannot drift apart. TensorFlow is imported only once a command
runs, never for `--help` or a bad argument.
"""

import argparse
import json
import math
import sys
from pathlib import Path

from charlm import params
from charlm.cli import check_output_encoding, run_stage, write, write_line
from charlm.errors import UserError
from charlm.io import read_bytes_at_most
from charlm.params import (LIMIT_REASONS, MAX_GENERATE_LENGTH, MAX_GENERATE_SEED, MAX_PREFIX_LENGTH,
                           MAX_REPETITION_PENALTY, MAX_REPETITION_WINDOW, MAX_SAMPLES, MAX_TEMPERATURE, MAX_TOP_K,
                           NEUTRAL_CONTROLS, SAMPLER_DEFAULTS)

DEFAULT_MODEL_DIR = "models"
DEFAULT_DATA_DIR = "data/processed"
DEFAULT_EVAL_METRICS = "metrics/eval.json"
# The most `score` reads (16 MiB: some 5 million Chinese characters, several times the lyrics), so
# that an endless input (`yes |`, /dev/zero) is refused instead of filling the memory.
MAX_SCORE_BYTES = 16 * 2**20


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse prints its usage and exits 2; the project's rule is one `error:` line instead.
        raise UserError(f"{message}; see `{self.prog} --help`")


def _int_range(low: int, high: int | None = None, limit: tuple[int, str] | None = None):
    """An integer from `low` to `high`; `limit` (the largest value the code can honour, and why)
    is named only to a value beyond it."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low:,} to {high:,}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be an integer {bounds}, got {value}")
        if limit is not None and value > limit[0]:
            raise argparse.ArgumentTypeError(f"must be at most {limit[0]:,}, {limit[1]}; got {value}")
        return value
    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    if value > MAX_TEMPERATURE:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_TEMPERATURE}, {LIMIT_REASONS['temperature']}; got {text}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _top_p(text: str) -> float:
    value = _number(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number > 0 and <= 1 (1: off), got {text}")
    return value


def _min_p(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number from 0 to 1 (0: off), got {text}")
    return value


def _repetition_penalty(text: str) -> float:
    value = _number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a number >= 1 (1: off), got {text}")
    if value > MAX_REPETITION_PENALTY:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_REPETITION_PENALTY:g}, "
                                         f"{LIMIT_REASONS['repetition_penalty']}; got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="charlm", description="Continue prefixes and score text with the character-level "
                     "language model that the DVC pipeline trained (run from the project's root after `dvc repro`).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    generate = commands.add_parser(
        "generate", help="continue each prefix with the trained network",
        description="Continue each PREFIX with the trained network through the generate stage's code: "
                    "`charlm generate 分开 --greedy --length 50` prints the stage's greedy line for 分开, and "
                    "with the stage's prefixes, length, temperature, top-k, seed and number of samples, it prints "
                    "the stage's sampled lines. Each continuation is printed as soon as it is written "
                    "(with --stream, a few characters at a time as they are made).")
    generate.add_argument("prefixes", nargs="+", metavar="PREFIX", help="text to continue (one or more)")
    generate.add_argument("--length", type=_int_range(1, MAX_GENERATE_LENGTH), default=50,
                          help="characters to write after each prefix (default: 50)")
    how = generate.add_mutually_exclusive_group()
    how.add_argument("--greedy", action="store_true",
                     help="always take the most probable character (argmax, as the book does)")
    how.add_argument("--temperature", type=_positive_float, default=SAMPLER_DEFAULTS["temperature"],
                     help="sampling temperature: lower is more conservative (default: %(default)s)")
    generate.add_argument("--top-k", type=_int_range(0, limit=(MAX_TOP_K, LIMIT_REASONS["top_k"])), default=SAMPLER_DEFAULTS["top_k"],
                          help="sample among the K most probable characters only; 0, or K at least the "
                               "vocabulary's size, = all (default: %(default)s)")
    generate.add_argument("--top-p", type=_top_p, default=None, metavar="P",
                          help="nucleus sampling: sample among the most probable characters whose probabilities "
                               f"sum to at least P (after temperature and top-k); 1 = off (default: "
                               f"{SAMPLER_DEFAULTS['top_p']:g} when sampling)")
    generate.add_argument("--min-p", type=_min_p, default=None, metavar="P",
                          help="sample only among characters whose probability is at least P times the most "
                               f"probable one's (after top-p); 0 = off (default: {SAMPLER_DEFAULTS['min_p']:g} "
                               f"when sampling)")
    generate.add_argument("--repetition-penalty", type=_repetition_penalty, default=None, metavar="THETA",
                          help="raise the probability p of each character among the last --repetition-window ones "
                               "(prefix included) to p**THETA before choosing, greedy or sampled; 1 = off "
                               f"(default: {SAMPLER_DEFAULTS['repetition_penalty']:g} when sampling, 1 with --greedy)")
    generate.add_argument("--repetition-window", type=_int_range(0, MAX_REPETITION_WINDOW), default=None, metavar="N",
                          help="how many recent characters --repetition-penalty looks back over; 0 = off "
                               f"(default: {SAMPLER_DEFAULTS['repetition_window']} when sampling, 0 with --greedy)")
    generate.add_argument("--seed", type=_int_range(0, limit=(MAX_GENERATE_SEED, LIMIT_REASONS["seed"])), default=0,
                          help="random seed; prefix i draws from SEED + i, as the stage does, so SEED + the number "
                               "of prefixes - 1 must fit in 64 bits (default: 0)")
    generate.add_argument("--num-samples", type=_int_range(1, MAX_SAMPLES), default=1, metavar="M",
                          help="continuations per prefix, drawn together in one batch (default: 1)")
    generate.add_argument("--adaptive", action="store_true",
                          help="read each prefix adaptively first, as generate.adaptive does: a dynamic-evaluation "
                               "step on each segment of it (dynamic.* in --params), then continue it with the "
                               "weights it left")
    generate.add_argument("--stream", action="store_true",
                          help="print each continuation's characters as they are made, a few at a time (the same "
                               "text as without --stream; one continuation per prefix)")
    generate.add_argument("--params", default=params.DEFAULT_PATH, metavar="FILE",
                          help="params file giving dynamic.* for --adaptive (default: %(default)s)")
    _add_model_options(generate)
    generate.set_defaults(run=_generate)

    score = commands.add_parser(
        "score", help="perplexity of a text under the network, the n-gram and their mixture",
        description="Perplexity of a UTF-8 text under the trained network, the Kneser-Ney n-gram and their "
                    "mixture, on the fixed class set of the evaluate stage: each character after the first is "
                    "scored given all those before it. The mixture weight is the one evaluate fit on "
                    "validation (read from --metrics), never fit on the scored text. Scoring the test part's "
                    "text gives metrics/eval.json's test figures.")
    score.add_argument("file", nargs="?", default="-", metavar="FILE",
                       help=f"UTF-8 text file to score, at most {MAX_SCORE_BYTES // 2**20} MiB; - or nothing reads "
                            f"standard input")
    score.add_argument("--newlines", choices=("spaces", "keep"), default=None,
                       help="turn line breaks into spaces, or keep them (default: as unzip.newlines_to_spaces in "
                            "--params, the way the model's corpus was read)")
    score.add_argument("--adaptive", action="store_true",
                       help="also score with the models learning from the text as they read it, as evaluate's "
                            "adaptive figures (dynamic evaluation, n-gram counts updated as it reads, a local "
                            "n-gram, their online mixture; settings from evaluate.* and dynamic.* in --params); "
                            "the text is read alone, from the trained state")
    score.add_argument("--per-char", action="store_true",
                       help="also list each character's cost in bits under every model, the most surprising first")
    _add_model_options(score)
    score.add_argument("--params", default=params.DEFAULT_PATH, metavar="FILE",
                       help="params file giving the n-gram's order and discount (evaluate.*), the newline "
                            "handling (unzip.newlines_to_spaces) and, with --adaptive, dynamic.* "
                            "(default: %(default)s)")
    score.add_argument("--metrics", default=DEFAULT_EVAL_METRICS, metavar="FILE",
                       help="the evaluate stage's metrics, holding the mixture weight (default: %(default)s)")
    score.set_defaults(run=_score)
    return parser


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL_DIR, metavar="DIR",
                        help="folder of the trained model, weights.safetensors and config.json (default: %(default)s)")
    parser.add_argument("--data", default=DEFAULT_DATA_DIR, metavar="DIR",
                        help="folder of the vocab stage's outputs the model was trained with: vocab.json "
                             "(train_classes.npy for score, train.npy for --adaptive) (default: %(default)s)")


def _with_default_controls(args) -> None:
    """The sampling controls not given take the default sampler's values (SAMPLER_DEFAULTS) when
    sampling, and are off with --greedy, which is the book's argmax unless told otherwise."""
    if args.repetition_window == 0 and args.repetition_penalty is None:
        args.repetition_penalty = 1.0  # `--repetition-window 0` alone turns the default penalty off
    for name, value in NEUTRAL_CONTROLS.items():
        if getattr(args, name) is None:
            setattr(args, name, value if args.greedy else SAMPLER_DEFAULTS[name])


def _generate(args) -> None:
    _with_default_controls(args)
    for number, prefix in enumerate(args.prefixes, 1):
        if not prefix or len(prefix) > MAX_PREFIX_LENGTH:
            raise UserError(f"a prefix must have 1 to {MAX_PREFIX_LENGTH:,} characters; got {len(prefix):,}")
        _check_utf8_argument(prefix, f"prefix {number}")
    if args.greedy and args.num_samples > 1:
        raise UserError("--greedy gives one continuation per prefix; drop --num-samples or --greedy")
    if args.greedy and (args.top_p < 1 or args.min_p > 0):
        raise UserError("--top-p and --min-p choose among sampled characters, and --greedy takes the most probable; "
                        "drop them or --greedy")
    if args.stream and args.num_samples > 1:
        raise UserError("--stream prints one continuation per prefix; drop --num-samples or --stream")
    if args.repetition_penalty > 1 and args.repetition_window == 0:
        raise UserError(f"--repetition-penalty {args.repetition_penalty:g} needs --repetition-window N > 0, the number "
                        f"of recent characters it penalises")
    last_seed = args.seed + len(args.prefixes) - 1
    if last_seed > MAX_GENERATE_SEED:
        raise UserError(f"--seed {args.seed}: prefix {len(args.prefixes)} would draw from seed {last_seed:,}, beyond "
                        f"the largest 64-bit seed ({MAX_GENERATE_SEED:,}); lower --seed to at most "
                        f"{MAX_GENERATE_SEED - len(args.prefixes) + 1:,}")
    # Every line starts with its prefix: an output that cannot take one fails before the model loads.
    check_output_encoding("".join(args.prefixes))
    vocab = _read_vocabulary(args.data)

    dynamic = params.load("dynamic", args.params) if args.adaptive else None
    if args.adaptive:
        from charlm.io import load_array

        train_ids = load_array(f"{args.data}/train.npy", "vocab")

    from charlm.model_files import check_model_files

    check_model_files(args.model, vocab.fingerprint(), vocab.size)  # before TensorFlow starts
    from charlm.continuation import (adaptive_reader, continue_prefixes, load_generator, stream_prefix,
                                     warn_about_unknown_characters)
    from charlm.generation import Controls

    generator = load_generator(args.model, vocab)
    warn_about_unknown_characters(generator, args.prefixes)
    reader = adaptive_reader(generator, train_ids, dynamic) if dynamic else None
    temperature = None if args.greedy else args.temperature
    controls = Controls(args.top_p, args.min_p, args.repetition_penalty, args.repetition_window)
    for i, prefix in enumerate(args.prefixes):  # prefix i draws from seed + i, as the stage does
        if args.stream:
            write(prefix)
            for piece in stream_prefix(generator, prefix, args.length, temperature, args.top_k, args.seed + i,
                                       reader=reader, controls=controls):
                write(piece, flush=True)
            write_line(flush=True)
            continue
        [texts] = continue_prefixes(generator, [prefix], args.length, temperature, args.top_k, args.seed + i,
                                    args.num_samples, reader=reader, controls=controls)
        for text in texts:
            write_line(text, flush=True)


def _score(args) -> None:
    text = _read_input_text(args.file)
    unzip, evaluate = params.load("unzip", args.params), params.load("evaluate", args.params)
    newlines_to_spaces = unzip.newlines_to_spaces if args.newlines is None else args.newlines == "spaces"
    if newlines_to_spaces:
        from charlm.corpus import spaces_for_newlines

        text = spaces_for_newlines(text)
    if len(text) < 2:
        raise UserError(f"{_input_name(args.file)}: {len(text)} character(s); scoring needs at least 2 "
                        f"(the first is context only)")
    vocab = _read_vocabulary(args.data)
    weight = _mixture_weight(args.metrics, vocab.class_count)
    from charlm.io import load_array
    from charlm.model_files import check_model_files

    train_classes = load_array(f"{args.data}/train_classes.npy", "vocab")
    check_model_files(args.model, vocab.fingerprint(), vocab.size)  # before TensorFlow starts

    from charlm.progress import for_text
    from charlm.scoring import ScoringModels, perplexities, with_mixture

    models = ScoringModels(args.model, vocab, train_classes, evaluate.ngram_order, evaluate.ngram_discount)
    progress = for_text("score", len(text) - 1)  # lines on stderr for a long text only
    log_probs = models.log_probs(*models.encode(text), progress)
    if weight is not None:
        log_probs = with_mixture(log_probs, weight)
    if args.adaptive:
        from charlm.adaptive import AdaptiveModels, AdaptiveSettings

        settings = AdaptiveSettings.from_params(evaluate, params.load("dynamic", args.params))
        adaptive = AdaptiveModels(models.network.model, vocab.unk_share, vocab.class_count,
                                  load_array(f"{args.data}/train.npy", "vocab"), train_classes, settings,
                                  counted=models.ngram)
        log_probs.update({f"adaptive {name}": values
                          for name, values in adaptive.read(*models.encode(text), progress).items()})
    write_line(f"{len(text) - 1:,} characters scored (each after the first), {vocab.class_count:,} classes")
    width = max(map(len, log_probs))
    for name, value in perplexities(log_probs).items():
        note = f"  (network weight {weight}, fit on validation, from {args.metrics})" if name == "mixture" else ""
        write_line(f"{name:<{width}} perplexity {value}{note}")
    if args.per_char:
        _print_costs(text, log_probs)


def _print_costs(text: str, log_probs: dict) -> None:
    """One tab-separated line per scored character (its 1-based position, the character as a Python
    literal so that spaces and line breaks show), the most surprising under the last model first."""
    names = list(log_probs)
    bits = {name: -values / math.log(2) for name, values in log_probs.items()}
    order = sorted(range(len(text) - 1), key=lambda t: (-bits[names[-1]][t], t))
    write_line()
    write_line("\t".join(["position", "character", *(f"{name} bits" for name in names)]))
    for t in order:
        write_line("\t".join([str(t + 2), repr(text[t + 1]), *(f"{bits[name][t]:.2f}" for name in names)]))


def _read_input_text(file: str) -> str:
    """The text to score, read with a bound: a stream without end is refused, not read into memory."""
    if file == "-":
        if sys.stdin is None:  # `<&-`: Python finds no descriptor 0
            raise UserError("standard input is closed; give a FILE to score, or pipe the text in")
        try:
            data = sys.stdin.buffer.read(MAX_SCORE_BYTES + 1)
        except OSError as e:
            raise UserError(f"standard input: cannot be read ({e.strerror}); give a FILE to score") from None
    else:
        data = read_bytes_at_most(file, MAX_SCORE_BYTES, "a text file", "file not found")
    if len(data) > MAX_SCORE_BYTES:
        raise UserError(f"{_input_name(file)}: more than {MAX_SCORE_BYTES:,} bytes ({MAX_SCORE_BYTES // 2**20} MiB), "
                        f"the most `charlm score` reads; score a shorter text, or split it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{_input_name(file)}: not UTF-8 text (invalid byte at offset {e.start}); "
                        f"convert it to UTF-8") from None


def _check_utf8_argument(text: str, what: str) -> None:
    """A command-line argument that is not UTF-8 reaches Python as lone surrogates
    (surrogateescape), which no UTF-8 output can hold: refuse it, naming the first bad byte."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        offset = len(text[:e.start].encode("utf-8"))
        raise UserError(f"{what} is not UTF-8 text (invalid byte at offset {offset}); pass it as UTF-8") from None


def _input_name(file: str) -> str:
    return "standard input" if file == "-" else file


def _read_vocabulary(data_dir: str):
    from charlm.vocab import read_vocabulary

    return read_vocabulary(f"{data_dir}/vocab.json")


def _mixture_weight(metrics_path: str, class_count: int) -> float | None:
    """The network weight that evaluate fit on validation; None when it fit none (no validation part)."""
    path = Path(metrics_path)
    if not path.is_file():
        raise UserError(f"{path}: not found; run `dvc repro evaluate` first (it fits the mixture weight)")
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
        classes, mixture = metrics["classes"], metrics.get("mixture")
        weight = None if mixture is None else mixture["network_weight"]
        if not isinstance(classes, int) or isinstance(classes, bool):
            raise ValueError(f"'classes' is {classes!r}, not a count")
        if weight is not None and not (isinstance(weight, (int, float)) and 0 <= weight <= 1):
            raise ValueError(f"'mixture.network_weight' is {weight!r}, not a weight from 0 to 1")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise UserError(f"{path}: unreadable evaluate metrics ({e}); rerun `dvc repro --force evaluate`") from None
    if classes != class_count:
        raise UserError(f"{path}: computed on {classes:,} classes but the vocabulary has {class_count:,}; "
                        f"rerun `dvc repro evaluate`")
    return weight


def main(argv: list[str] | None = None) -> None:
    def run() -> None:
        if sys.stdout is None:  # `>&-`: results written to nowhere would pass for success
            raise UserError("standard output is closed, so the results would be lost; "
                            "redirect it to a file or a pipe instead")
        args = build_parser().parse_args(argv)
        args.run(args)

    run_stage(run)


if __name__ == "__main__":
    main()
