"""The benchmark scripts still run against the current library, at toy sizes. Only that they run
and report positive speeds is checked: speed itself is measured by `make bench`, never in tests."""

import importlib.util
import re

from charlm.model import ModelConfig, build_model
from charlm.params import TrainParams
from charlm.vocab import build_vocabulary
from conftest import ROOT, VERSE, tiny_params


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_and_generation_benchmarks_run(monkeypatch):
    bench = load_script("run")
    monkeypatch.setattr(bench, "REFERENCE_EPOCHS", 2)
    monkeypatch.setattr(bench, "GENERATE_LENGTH", 20)
    monkeypatch.setattr(bench, "GENERATE_ROUNDS", 2)
    monkeypatch.setattr(bench, "GENERATION_CASES", {"sampled_batch_64": (0.8, 10, 3)})  # one case: graph and XLA
    vocab = build_vocabulary(VERSE * 20)
    ids = vocab.encode(VERSE * 20)
    p = TrainParams(**{**tiny_params()["train"], "input": "one_hot", "epochs": 2})
    assert bench.reference(vocab, ids[:100], p) > 0  # eager, a step per window: three windows per epoch
    # `ours`, the project's loop, runs in `precision` below (fp32, then bf16): generation needs only a model.
    speeds = bench.generation(build_model(ModelConfig.for_training(p, vocab)), vocab)
    assert set(speeds) == {"sampled_batch_64", "sampled_batch_64_xla"} and all(s > 0 for s in speeds.values())
    precision = bench.precision(vocab, ids, ids[:60], p)
    assert set(precision) == {"float32", "mixed_bfloat16"}
    for measured in precision.values():
        assert measured["chars_per_second"] > 0 and len(measured["valid_perplexity"]) == 2


def test_the_generation_benchmark_against_a_revision_runs(monkeypatch, capsys):
    against = load_script("generation_against")
    for name, value in {"LENGTH": 4, "ROUNDS": 2, "VOCABULARY": 12, "HIDDEN": 8,
                        "CASES": {"sampled": (0.8, 10, 1)}}.items():
        monkeypatch.setattr(against, name, value)
    speeds = against.main(["HEAD"])
    assert len(speeds) == 6 and all(s > 0 for s in speeds.values())
    assert "working tree, controls on" in capsys.readouterr().out


def test_cpu_is_described():
    cpu = load_script("run").cpu_description()
    assert cpu["model"] and isinstance(cpu["extensions"], list)


def test_training_step_levers_run(monkeypatch, capsys):
    levers = load_script("levers")
    for name, value in {"BATCH": 2, "STEPS": 5, "HIDDEN": 8, "CLASSES": 11, "CALLS": 2, "ROUNDS": 1,
                        "WINDOWS": 2}.items():
        monkeypatch.setattr(levers, name, value)
    levers.main()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7
    assert all(re.search(r"  [\d,]+ chars/s$", line) and not line.endswith(" 0 chars/s") for line in lines)


def test_the_scale_benchmark_reads_trainings_lines_and_fits_growth_exponents(capsys):
    from charlm.training import log_epoch, log_progress

    scale = load_script("scale")
    for epoch, speed in ((1, 900.0), (2, 1000.0), (3, 1100.0)):
        log_progress(epoch, 3, 200, 800, 50.0, speed * 2)
        log_progress(epoch, 3, 400, 800, 50.0, speed * 3)
        log_epoch({"epoch": epoch, "train_perplexity": 40.0, "valid_perplexity": 60.0}, 3, 12.5, speed)
    assert scale.training_speeds(capsys.readouterr().err) == {"chars_per_second": 1050, "part_chars_per_second": 2700}
    # Seconds that grow with the square of the size; train's per epoch (3 epochs, then 1).
    rows = [{"size": n, "characters": n, "epochs": epochs,
             "stages": {s: {"seconds": n * n * (epochs if s == "train" else 1), "peak_mb": 100, "chars_per_second": 50}
                        for s in scale.STAGES}}
            for n, epochs in ((1000, 3), (10_000, 1))]
    (grown,) = scale.growth(rows)
    assert grown["seconds"] == dict.fromkeys(scale.STAGES, 2.0) and grown["peak_mb"] == dict.fromkeys(scale.STAGES, 0.0)
    lines = scale.table({"rows": rows, "growth": [grown]}).splitlines()
    assert lines[0] == "| stage | 0.001 M: s / peak MB | 0.01 M: s / peak MB | growth exponent, time / memory |"
    assert lines[2 + scale.STAGES.index("train")] == "| train | 3,000,000 / 100 | 100,000,000 / 100 | 2.0 / 0.0 |"
