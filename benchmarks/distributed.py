"""train.distribute side by side (a benchmark, not a test): the default model on the default
corpus trained with `none`, `mirrored` over two logical CPU devices, and `multi_worker` as two
processes on 127.0.0.1, in one run, with the same global batch.

Each mode runs the train stage itself (stages/train.py) in a scratch copy of this checkout's
code and index arrays (run `make repro` first), with `train.epochs` set by --epochs. It records
the median chars/s of the epochs after the first (which traces and compiles), and the best
validation perplexity, which with the default dropout differs between modes by the masks drawn
(each replica draws its own), not by the updates. Writes benchmarks/distributed.json.

    python benchmarks/distributed.py              # 3 epochs each: speed
    python benchmarks/distributed.py --epochs 40 --modes multi_worker  # the default run's length
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # this checkout's code
from charlm import distribute  # noqa: E402  (no TensorFlow)
RESULTS = ROOT / "benchmarks" / "distributed.json"
MODES = ["none", "mirrored", "multi_worker"]
COPIED = ["src", "stages", "data/processed/vocab.json", "data/processed/train.npy", "data/processed/valid.npy"]


def scratch_copy(folder: Path, epochs: int, mode: str) -> Path:
    for name in COPIED:
        source, target = ROOT / name, folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["train"].update(epochs=epochs, distribute=mode)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder


def run_mode(mode: str, epochs: int, scratch: Path) -> dict:
    tasks = 2 if mode == "multi_worker" else 1
    folders = [scratch_copy(scratch / f"{mode}-{i}", epochs, mode) for i in range(tasks)]
    env = {**os.environ, "CHARLM_LOGICAL_CPUS": "2"} if mode == "mirrored" else dict(os.environ)
    environs = [env]
    if mode == "multi_worker":
        environs = [{**env, "TF_CONFIG": config} for config in distribute.loopback_cluster(2)]
    processes = [subprocess.Popen([sys.executable, "stages/train.py"], cwd=folder, env=environ,
                                  stderr=subprocess.PIPE, text=True) for folder, environ in zip(folders, environs)]
    errors = [p.communicate()[1] for p in processes]
    if any(p.returncode for p in processes):
        raise SystemExit(f"{mode} failed:\n" + "\n".join(errors))
    speeds = [float(line.split()[-2].replace(",", "")) for line in errors[0].splitlines() if line.startswith("epoch")]
    metrics = json.loads((folders[0] / "metrics/train.json").read_text())
    return {"chars_per_second_median": round(statistics.median(speeds[1:] or speeds)), "epochs_run": len(speeds),
            "best_epoch": metrics["best_epoch"], "valid_perplexity": metrics["valid_perplexity"]}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=MODES)
    args = parser.parse_args()
    results = {"cpu": cpu_name(), "cores": os.cpu_count(), "epochs": args.epochs, "modes": {}}
    with tempfile.TemporaryDirectory() as scratch:
        for mode in args.modes:
            results["modes"][mode] = run_mode(mode, args.epochs, Path(scratch))
            print(f"{mode:>12}: {results['modes'][mode]}", flush=True)
    if "none" in results["modes"]:
        none = results["modes"]["none"]["chars_per_second_median"]
        results["speed_over_none"] = {mode: round(r["chars_per_second_median"] / none, 3)
                                      for mode, r in results["modes"].items()}
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous[f"epochs_{args.epochs}" + ("" if args.modes == MODES else "_" + "_".join(args.modes))] = results
    RESULTS.write_text(json.dumps(previous, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"speed over none: {results.get('speed_over_none')}  ({results['cpu']}); wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
