"""A checkout runs its own code: stages in a copy of the repository, a DVC experiment queued from
it and `charlm` run inside it import that copy's `src/`, not the checkout the package was
installed from (`make setup` installs it in editable mode)."""

import json
import subprocess
import sys

from pipeline_repo import PipelineRepo

def cut_corpus_to(repo: PipelineRepo, n_chars: int) -> None:
    """Edit the repo's own src/charlm/corpus.py so that the corpus it writes has `n_chars` characters
    (or fewer, after an earlier cut)."""
    corpus = repo.path / "src" / "charlm" / "corpus.py"
    corpus.write_text(corpus.read_text(encoding="utf-8") + f"""

_normalize_before_{n_chars} = normalize


def normalize(*args):
    return _normalize_before_{n_chars}(*args)[:{n_chars}]
""", encoding="utf-8")


def corpus_length(metrics: dict) -> int:
    return sum(metrics["characters"].values())


def test_a_stage_in_a_copy_runs_the_copys_code(tmp_path):
    repo = PipelineRepo.create(tmp_path / "repo")
    cut_corpus_to(repo, 321)
    repo.dvc("repro", "vocab")
    assert len((repo.path / "data/interim/corpus.txt").read_text(encoding="utf-8")) == 321
    assert corpus_length(repo.json("metrics/data.json")) == 321


def test_charlm_in_a_checkout_imports_that_checkouts_package(tmp_path):
    repo = PipelineRepo.create(tmp_path / "repo")
    probe = "import sys; from charlm.launcher import enclosing_checkout_src; print(enclosing_checkout_src(__import__('pathlib').Path.cwd()))"
    assert repo.run(sys.executable, "-c", probe).stdout.strip() == str(repo.path / "src")
    (repo.path / "src" / "charlm" / "command.py").write_text(
        "def main():\n    import charlm\n    print('copy', charlm.__file__)\n", encoding="utf-8")
    assert repo.charlm().stdout.strip() == f"copy {repo.path / 'src' / 'charlm' / '__init__.py'}"


def test_a_queued_experiment_runs_the_code_it_was_queued_with(tmp_path):
    repo = PipelineRepo.create(tmp_path / "repo")
    repo.dvc("repro", "vocab")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "data stages")
    full = corpus_length(repo.json("metrics/data.json"))
    # A code change, queued as an experiment; then the workspace changes again before the queue runs.
    cut_corpus_to(repo, 400)
    repo.dvc("exp", "run", "--queue", "-n", "cut-400", "vocab")
    cut_corpus_to(repo, 250)
    # `exp run --run-all` starts the queue's worker and waits for the experiment. The worker lives on
    # after it (until idle) with the streams it was given: a file, not a pipe whose end this test
    # would wait for.
    log = tmp_path / "run-all.log"
    with open(log, "w") as out:
        ran = subprocess.run([sys.executable, "-m", "dvc", "exp", "run", "--run-all"], cwd=repo.path, env=repo.env,
                             stdout=out, stderr=subprocess.STDOUT)
    assert ran.returncode == 0, log.read_text()
    assert "Success" in repo.dvc("queue", "status").stdout, repo.dvc("queue", "status").stdout
    shown = json.loads(repo.dvc("exp", "show", "--json").stdout)
    experiments = {exp["name"]: exp for commit in shown for exp in (commit.get("experiments") or [])}
    data = experiments["cut-400"]["revs"][0]["data"]["metrics"]["metrics/data.json"]["data"]
    assert corpus_length(data) == 400  # the queued code ran, not the workspace's (250) nor the installed checkout's
    assert corpus_length(repo.json("metrics/data.json")) == full  # the workspace's outputs were left alone
