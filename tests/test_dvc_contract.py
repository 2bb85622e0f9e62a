"""The DVC contract: declared params match what each stage reads, a change reruns exactly what
depends on it, same params give the same bytes, and branches compare with `dvc metrics diff`."""

import ast
import hashlib

import pytest
import yaml

from charlm import params
from conftest import ROOT, tiny_params
from pipeline_repo import PipelineRepo

STAGES = ["unzip", "vocab", "train", "evaluate", "generate", "export"]


def test_dvc_yaml_declares_exactly_the_keys_each_stage_reads():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert list(stages) == STAGES
    for name, stage in stages.items():
        assert stage.get("params", []) == params.stage_keys(name), name


def test_stage_commands_run_their_checkouts_code_without_pythonpath():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert {name: stage["cmd"] for name, stage in stages.items()} == {name: f"exec python stages/{name}.py" for name in STAGES}
    for name, stage in stages.items():
        # The first import of every stage puts its own checkout's src/ first on sys.path.
        body = ast.parse((ROOT / "stages" / f"{name}.py").read_text(encoding="utf-8")).body
        imports = [node for node in body if isinstance(node, (ast.Import, ast.ImportFrom))]
        assert isinstance(imports[0], ast.Import) and imports[0].names[0].name == "this_checkout", name
        assert "stages/this_checkout.py" in stage["deps"], name


def test_the_corpus_dependency_comes_from_params():
    unzip = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]["unzip"]
    assert "${unzip.path}" in unzip["deps"] and not any(dep.startswith("data/") for dep in unzip["deps"])


def charlm_modules(path, seen=None) -> set[str]:
    """The library modules a script imports, directly or through other library modules."""
    seen = set() if seen is None else seen
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module == "charlm":
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("charlm."):
            names = [node.module.split(".")[1]]
        for name in names:
            if name not in seen:
                seen.add(name)
                charlm_modules(ROOT / "src" / "charlm" / f"{name}.py", seen)
    return seen


def test_each_stage_depends_on_every_library_module_it_imports():
    # A module missing from a stage's deps would let a code change leave stale outputs.
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    for name, stage in stages.items():
        declared = {dep.removeprefix("${lib}/").removesuffix(".py") for dep in stage["deps"] if dep.startswith("${lib}/")}
        assert declared == charlm_modules(ROOT / "stages" / f"{name}.py"), name


@pytest.fixture(scope="module")
def reproduced(tiny_pipeline):
    return tiny_pipeline


def test_each_stage_run_with_only_the_params_sections_it_reads_gives_the_same_bytes(reproduced, tmp_path):
    # Run again, each stage with only its own sections of the same params: every output is the
    # same bytes (so no stage reads a section it does not declare, and a rerun is deterministic),
    # and with the whole params.yaml back, DVC finds every output as its lock records it.
    repo = reproduced.copy(tmp_path / "repo")
    before, whole = _digests(repo), (repo.path / "params.yaml").read_bytes()
    for name in STAGES:
        sections = {section: tiny_params()[section] for section in params.STAGE_SECTIONS[name]}
        (repo.path / "params.yaml").write_text(yaml.safe_dump(sections, allow_unicode=True))
        result = repo.stage(name)
        assert result.returncode == 0, f"{name}: {result.stderr}"
    (repo.path / "params.yaml").write_bytes(whole)
    assert _digests(repo) == before
    # Only the timing differs from the lock: it measures the run itself.
    assert [line.split()[-1] for line in repo.dvc("status").stdout.splitlines() if "modified:" in line] == [
        "metrics/train_timing.json"]


def test_a_forced_repro_reruns_the_stage_and_those_before_it_to_the_same_bytes(reproduced, tmp_path):
    # Only the stages that read no trained model: the bytes of the others are the test above's.
    repo = reproduced.copy(tmp_path / "repo")
    before = _digests(repo)
    assert repo.repro("--force", "vocab") == ["unzip", "vocab"]
    assert _digests(repo) == before and "up to date" in repo.dvc("status").stdout


@pytest.mark.parametrize("change, named", [
    ({"generate.temperature": 1.3}, {"generate"}),
    ({"evaluate.mixer_lr": 0.5}, {"evaluate"}),
    ({"dynamic.lr": 0.5}, {"evaluate", "generate"}),
    ({"train.lr": 0.02}, {"train"}),
    ({"vocab.valid_fraction": 0.2, "vocab.test_fraction": 0.05}, {"vocab"}),
])
def test_a_param_change_touches_only_the_stages_that_read_it(reproduced, tmp_path, change, named):
    repo = reproduced.copy(tmp_path / "repo")
    repo.set_params(change)
    assert repo.changed_stages() == named


def test_a_leafs_params_rerun_it_alone_and_the_sampling_controls_are_recorded_beside_its_measures(
        reproduced, tmp_path):
    # A train param reruns what reads the model: the branch test below.
    repo = reproduced.copy(tmp_path / "repo")
    before = repo.json("metrics/samples.json")
    controls = {"top_p": 0.9, "min_p": 0.05, "repetition_penalty": 1.5, "repetition_window": 8}
    assert {key: before["settings"][key] for key in controls} == {key: params.SAMPLER_DEFAULTS[key] for key in controls}
    # Without the long test prefix, which only takes time here (also a generate param).
    repo.set_params({**{f"generate.{key}": value for key, value in controls.items()}, "generate.test_prefix_length": 0})
    assert repo.changed_stages() == {"generate"}
    assert repo.repro() == ["generate"]
    assert "up to date" in repo.dvc("status").stdout
    after = repo.json("metrics/samples.json")
    assert {key: after["settings"][key] for key in controls} == controls
    assert after["sampled"] != before["sampled"]
    assert after["greedy"] == before["greedy"] and after["held_out"] == before["held_out"]  # the book's greedy
    report = (repo.path / "reports/samples.md").read_text(encoding="utf-8")
    assert "top-p 0.9, min-p 0.05, repetition penalty 1.5 over the last 8 characters, seed 0" in report


def _digests(repo: PipelineRepo) -> dict[str, str]:
    """md5 of every output (the SavedModel's files included), except the timing metrics, which
    measure the run itself."""
    files = [p for folder in ("data/interim", "data/processed", "models", "metrics", "reports")
             for p in sorted((repo.path / folder).rglob("*")) if p.is_file() and not p.name.startswith(".")]
    return {str(p.relative_to(repo.path)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in files if p.name != "train_timing.json"}


def test_branches_compare_with_metrics_and_params_diff(reproduced, tmp_path):
    repo = reproduced.copy(tmp_path / "repo")
    # A branch that changes how evaluate mixes (the cheapest stage whose figures it changes; which
    # stages a param reruns is the tests above's).
    repo.git("checkout", "-q", "-b", "slower-mixer")
    repo.set_params({"evaluate.mixer_lr": 0.5})
    assert repo.repro() == ["evaluate"]
    assert "up to date" in repo.dvc("status").stdout
    repo.git("commit", "-q", "-am", "try mixer_lr 0.5")
    params_diff = repo.dvc("params", "diff", "main").stdout
    assert "evaluate.mixer_lr" in params_diff and "0.05" in params_diff and "0.5" in params_diff
    metrics_diff = repo.dvc("metrics", "diff", "main", "--md").stdout
    assert "metrics/eval.json" in metrics_diff and "adaptive.mixture.valid" in metrics_diff
