"""The benchmark scripts still run against the current library, at toy sizes. Only that they run
and report positive speeds is checked: speed itself is measured by `make bench`, never in tests."""

import importlib.util
import re

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
    vocab = build_vocabulary(VERSE * 20)
    ids = vocab.encode(VERSE * 20)
    p = TrainParams(**{**tiny_params()["train"], "input": "one_hot", "epochs": 2})
    assert bench.reference(vocab, ids, p) > 0
    speed, model, _ = bench.ours(vocab, ids, p)
    assert speed > 0
    speeds = bench.generation(model, vocab)
    assert len(speeds) == 6 and all(s > 0 for s in speeds.values())
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
