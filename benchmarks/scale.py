"""What every stage costs as the corpus grows (a benchmark, not a test): `make bench-scale`.

The corpus is real text that any Debian machine can install, with no text repeated, in this order:
fortunes-zh (Tang and Song poems and Chinese sayings), manpages-zh (the simplified-Chinese manual
pages, troff source as installed) and python3.11-doc (the reStructuredText sources of Python's
documentation). Each size is its first N characters (`unzip.max_chars`), so a larger size holds
every smaller one; the default lyrics are the first row.

Each stage script runs in a scratch copy of this checkout's code (stages/, src/), with the default
params except: `train.patience` 0, and `train.epochs` 1 with `train.checkpoint_windows` 200 on a
large corpus (one epoch is what grows with the text; a checkpoint every 224,000 characters), 3 on
the lyrics (the first epoch compiles; the speed is the median of the others). Recorded per stage:
wall seconds and peak memory (the maximum resident set size of the stage's process, from wait4),
and between two sizes the growth exponent log(cost ratio) / log(size ratio). Writes
benchmarks/scale.json; `--sizes` picks sizes, and the rows of other sizes are kept from the file.

    python benchmarks/scale.py                       # 64k (the lyrics), 1 M and 10 M characters
    python benchmarks/scale.py --sizes 1000000       # one size
"""

import argparse
import dataclasses
import gzip
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "scale.json"
PACKAGES = ["fortunes-zh", "manpages-zh", "python3.11-doc"]
STAGES = ["unzip", "vocab", "train", "evaluate", "generate"]
LYRICS = 0  # the size that stands for the default corpus, whole
DEFAULT_SIZES = [LYRICS, 1_000_000, 10_000_000]
LYRICS_EPOCHS = 3
CHECKPOINT_WINDOWS = 200  # about 224,000 characters a part at the default window
_EPOCH_SPEED = re.compile(r"^epoch +\d+/\d+  train ppl .* ([\d,]+) chars/s$", re.MULTILINE)
_PART_SPEED = re.compile(r"window [\d,]+/[\d,]+ .* ([\d,]+) chars/s")


def _package_texts(folder: Path):
    """The packages' texts, in a fixed order, each as one string."""
    fortunes = folder / "fortunes-zh/usr/share/games/fortunes"
    for name in ("tang300", "song100", "chinese"):
        yield (fortunes / name).read_text(encoding="utf-8")
    for page in sorted((folder / "manpages-zh/usr/share/man/zh_CN").rglob("*.gz")):
        yield gzip.decompress(page.read_bytes()).decode("utf-8", errors="replace")
    for source in sorted((folder / "python3.11-doc/usr/share/doc/python3.11/html/_sources").rglob("*.txt")):
        yield source.read_text(encoding="utf-8")


def build_corpus(cache: Path) -> Path:
    """The corpus file, downloaded and unpacked once into `cache` (apt-get download: no root)."""
    corpus = cache / "corpus.txt"
    if corpus.exists():
        return corpus
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=debs, check=True, capture_output=True)
    for package in PACKAGES:
        deb = next(debs.glob(f"{package}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(cache / package)], check=True)
    partial = corpus.with_suffix(".partial")
    with open(partial, "w", encoding="utf-8") as out:
        for text in _package_texts(cache):
            out.write(text if text.endswith("\n") else text + "\n")
    partial.rename(corpus)
    return corpus


def scratch_copy(folder: Path, corpus: Path | None, size: int) -> Path:
    for name in ("src", "stages"):
        shutil.copytree(ROOT / name, folder / name)
    p = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    if corpus is None:  # the default corpus
        p["unzip"]["path"] = str(ROOT / p["unzip"]["path"])
    else:
        p["unzip"].update(path=str(corpus), max_chars=size)
    # The lyrics: 3 epochs in one compiled call each, as the default run trains (the first epoch
    # compiles). A large corpus: one epoch, in parts of CHECKPOINT_WINDOWS windows with a
    # checkpoint after each, as docs/own-corpus.md advises.
    p["train"].update(epochs=LYRICS_EPOCHS if corpus is None else 1, patience=0,
                      checkpoint_windows=0 if corpus is None else CHECKPOINT_WINDOWS)
    (folder / "params.yaml").write_text(yaml.safe_dump(p, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


def run_stage(folder: Path, stage: str) -> dict:
    """Wall seconds and peak memory of one stage script; its stderr is kept beside the copy."""
    log = folder / f"{stage}.log"
    start = time.perf_counter()
    with open(log, "w") as err:
        process = subprocess.Popen([sys.executable, f"stages/{stage}.py"], cwd=folder, stdout=err, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        sys.exit(f"{stage} failed:\n{log.read_text()[-3000:]}")
    row = {"seconds": round(seconds, 1), "peak_mb": round(usage.ru_maxrss / 1024)}
    if stage == "train":
        row.update(training_speeds(log.read_text()))
    return row


def training_speeds(log: str) -> dict:
    """From train's lines: on the lyrics the median epoch after the first (which compiles); on a
    large corpus its one epoch, compilation included (seconds of it in many minutes); and the
    median part after the first, which also counts the checkpoint written after each part."""
    epochs = [float(m.group(1).replace(",", "")) for m in _EPOCH_SPEED.finditer(log)]
    parts = [float(m.group(1).replace(",", "")) for m in _PART_SPEED.finditer(log)]
    return {"chars_per_second": round(statistics.median(epochs[1:]) if len(epochs) > 1 else epochs[0]),
            "part_chars_per_second": round(statistics.median(parts[1:])) if len(parts) > 1 else None}


def measure(size: int, corpus: Path | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="charlm-scale-") as scratch:
        folder = scratch_copy(Path(scratch), corpus, size)
        stages = {}
        for stage in STAGES:
            stages[stage] = run_stage(folder, stage)
            print(f"  {size or 'lyrics'}: {stage:<8} {stages[stage]}", flush=True)
        data = json.loads((folder / "metrics/data.json").read_text())
        evaluation = json.loads((folder / "metrics/eval.json").read_text())
    return {"characters": sum(data["characters"].values()), "parts": data["characters"], "classes": evaluation["classes"],
            "epochs": LYRICS_EPOCHS if corpus is None else 1,
            "adaptive_characters_read": evaluation.get("adaptive_characters_read"), "stages": stages}


class _Enough(Exception):
    pass


def speed_by_size(processed: Path, small: int, parts: int, rounds: int) -> dict:
    """Training speed on the whole train part of a run's data (`processed`, its data/processed)
    against its first `small` characters, with the same vocabulary and model: `parts` parts of
    CHECKPOINT_WINDOWS windows each (the first, which compiles, not counted), the two sizes in
    turn `rounds` times, in one process. Any cost from the size itself shows in the ratio; the
    vocabulary, which differs between corpora, cannot."""
    import numpy as np

    sys.path.insert(0, str(ROOT / "src"))  # this checkout's library
    from charlm import params
    from charlm.model import ModelConfig, build_model
    from charlm.tf_runtime import make_deterministic
    from charlm.training import train
    from charlm.vocab import read_vocabulary

    defaults = params.load("train", ROOT / "params.yaml")
    p = dataclasses.replace(defaults, epochs=1, patience=0, checkpoint_windows=CHECKPOINT_WINDOWS)
    vocab = read_vocabulary(processed / "vocab.json")
    ids = np.load(processed / "train.npy")
    speeds = {"small": [], "whole": []}
    for _ in range(rounds):
        for name, train_ids in (("small", ids[:small]), ("whole", ids)):
            make_deterministic(p.seed)
            model = build_model(ModelConfig.for_training(p, vocab))
            seen = []

            def stop_after(epoch, epochs, window, windows, perplexity, chars_per_second):
                seen.append(chars_per_second)
                if len(seen) == parts:
                    raise _Enough
            try:
                train(model, train_ids, np.zeros(0, np.int32), p, vocab.unk_share, on_epoch=lambda *a: None,
                      on_progress=stop_after)
            except _Enough:
                pass
            speeds[name] += seen[1:]
    small_speed, whole_speed = statistics.median(speeds["small"]), statistics.median(speeds["whole"])
    return {"train_characters": {"small": min(small, len(ids)), "whole": len(ids)}, "classes": vocab.class_count,
            "chars_per_second": {"small": round(small_speed), "whole": round(whole_speed)},
            "whole_over_small": round(whole_speed / small_speed, 3), "parts_counted": len(speeds["whole"])}


def growth(rows: list[dict]) -> list[dict]:
    """Per pair of consecutive sizes and stage, the exponent of seconds (train's per epoch: the
    lyrics train for more than one) and of peak memory."""
    def seconds(row, stage):
        return row["stages"][stage]["seconds"] / (row["epochs"] if stage == "train" else 1)

    out = []
    for small, large in zip(rows, rows[1:]):
        ratio = math.log(large["characters"] / small["characters"])
        out.append({"from": small["characters"], "to": large["characters"],
                    "seconds": {s: round(math.log(seconds(large, s) / seconds(small, s)) / ratio, 2) for s in STAGES},
                    "peak_mb": {s: round(math.log(large["stages"][s]["peak_mb"] / small["stages"][s]["peak_mb"]) / ratio, 2)
                                for s in STAGES}})
    return out


def table(results: dict) -> str:
    """The rows as a Markdown table: seconds and peak memory per stage and size, and the growth
    exponents from each size to the next."""
    rows = results["rows"]
    names = [("lyrics" if row["size"] == LYRICS else f"{row['characters'] / 1e6:g} M") for row in rows]
    lines = ["| stage | " + " | ".join(f"{name}: s / peak MB" for name in names) + " | growth exponent, time / memory |",
             "| --- |" + " ---: |" * (len(rows) + 1)]
    for stage in STAGES:
        cells = [f"{row['stages'][stage]['seconds']:,} / {row['stages'][stage]['peak_mb']:,}" for row in rows]
        grown = ", ".join(f"{g['seconds'][stage]} / {g['peak_mb'][stage]}" for g in results["growth"])
        lines.append(f"| {stage} | " + " | ".join(cells) + f" | {grown} |")
    speeds = [f"{row['stages']['train']['chars_per_second']:,}" for row in rows]
    lines.append("| train chars/s | " + " | ".join(speeds) + " | |")
    return "\n".join(lines)


def _characters(path: Path) -> int:
    """Counted a megabyte at a time: a stage's peak memory, as wait4 reports it, starts from this
    process's own size at the fork, so this process stays small."""
    count = 0
    with open(path, encoding="utf-8") as text:
        while chunk := text.read(1 << 20):
            count += len(chunk)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES,
                        help="characters of the corpus to run on; 0 = the default lyrics")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "charlm-scale-corpus",
                        help="where the Debian packages and the corpus built from them are kept")
    parser.add_argument("--speed-of", type=Path, metavar="PROCESSED",
                        help="instead: training speed on this data/processed folder (of a large run) against its "
                             "first million characters, same vocabulary, in one process (speed_by_size)")
    args = parser.parse_args()
    if args.speed_of:
        measured = speed_by_size(args.speed_of, 1_000_000, parts=3, rounds=2)
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        from run import cpu_description

        results["speed_by_size"] = {**measured, "cpu": cpu_description()["model"]}
        RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(measured)
        return
    corpus = build_corpus(args.cache) if any(args.sizes) else None
    available = _characters(corpus) if corpus else 0
    if max(args.sizes) > available:
        sys.exit(f"the corpus holds {available:,} characters, fewer than {max(args.sizes):,}")
    # Rows of sizes not run this time are kept from the last results (a large size is run alone);
    # each row names the machine it ran on.
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    rows = {row["size"]: row for row in results.get("rows", []) if row["size"] not in args.sizes}
    measured = {size: measure(size, corpus if size else None) for size in sorted(args.sizes)}
    from run import cpu_description  # only now: it loads NumPy, which every stage forked before would count

    for size, row in measured.items():
        rows[size] = {"size": size, **row, "cpu": cpu_description()["model"], "cores": os.cpu_count()}
    rows = [rows[size] for size in sorted(rows)]
    results.update(packages=PACKAGES, corpus_characters=available, rows=rows, growth=growth(rows))
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(results))
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
