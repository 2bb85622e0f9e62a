import json
import os
import resource
import signal
import stat
import subprocess
import sys

import pytest

from charlm.errors import UserError
from charlm.io import atomic_folder, outputs_together, write_bytes, write_json, write_text


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_text(tmp_path / "a.txt", "分开")
        write_json(tmp_path / "b.json", {"a": 1})
        assert os.umask(umask) == umask  # writing left the umask as it was
    finally:
        os.umask(previous)
    for name in ("a.txt", "b.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "分开"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


def test_a_folder_is_replaced_as_a_whole_or_not_at_all(tmp_path):
    target = tmp_path / "savedmodel"
    (target / "variables").mkdir(parents=True)
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_folder(target) as tmp:
            (tmp / "new.txt").write_text("new")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in target.iterdir()) == ["old.txt", "variables"]
    with atomic_folder(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o777 & ~_umask()
    assert [p.name for p in tmp_path.iterdir()] == ["savedmodel"]  # no temporary left behind


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_non_finite_figure_is_a_user_error_and_leaves_the_file(tmp_path):
    path = tmp_path / "eval.json"
    write_json(path, {"perplexity": 1.5})
    with pytest.raises(UserError, match="NaN or infinite"):
        write_json(path, {"perplexity": float("nan")})
    assert json.loads(path.read_text()) == {"perplexity": 1.5}
    assert [p.name for p in tmp_path.iterdir()] == ["eval.json"]


def test_outputs_together_replace_nothing_when_the_block_fails(tmp_path):
    first, second = tmp_path / "weights.bin", tmp_path / "metrics/train.json"
    write_text(first, "old weights")
    write_json(second, {"old": True})
    with pytest.raises(RuntimeError):
        with outputs_together():
            write_text(first, "new weights")
            write_json(second, {"old": False})
            assert first.read_text() == "old weights"  # held back until the block succeeds
            raise RuntimeError("the stage failed after both writes")
    assert first.read_text() == "old weights" and json.loads(second.read_text()) == {"old": True}
    assert temporaries(tmp_path) == []
    with outputs_together():
        write_text(first, "new weights")
        write_json(second, {"old": False})
    assert first.read_text() == "new weights" and json.loads(second.read_text()) == {"old": False}
    assert temporaries(tmp_path) == []


def test_an_immediate_write_lands_at_once_and_a_folder_waits_with_the_rest(tmp_path):
    (tmp_path / "savedmodel").mkdir()
    (tmp_path / "savedmodel/old.pb").write_text("old")
    with pytest.raises(RuntimeError):
        with outputs_together():
            write_bytes(tmp_path / "checkpoint", b"epoch 1", immediately=True)  # the training checkpoint
            assert (tmp_path / "checkpoint").read_bytes() == b"epoch 1"
            with atomic_folder(tmp_path / "savedmodel") as tmp:
                (tmp / "new.pb").write_text("new")
            assert [p.name for p in (tmp_path / "savedmodel").iterdir()] == ["old.pb"]
            raise RuntimeError("stopped")
    assert (tmp_path / "checkpoint").read_bytes() == b"epoch 1"
    assert [p.name for p in (tmp_path / "savedmodel").iterdir()] == ["old.pb"]
    assert temporaries(tmp_path) == []


def test_an_output_folder_that_is_a_file_is_one_user_error(tmp_path):
    # A file where the folder should be fails for root too, as a read-only folder would for a user.
    (tmp_path / "metrics").write_text("not a folder")
    with pytest.raises(UserError) as error:
        write_json(tmp_path / "metrics/eval.json", {"a": 1})
    assert str(error.value) == (f"{tmp_path}/metrics/eval.json: cannot be written ({tmp_path}/metrics is a file, "
                                f"not a folder); the earlier outputs are as they were")


STAGE = """
import sys
from charlm.cli import run_stage, write_line
from charlm.io import write_bytes, write_text

def main():
    write_text("small.txt", "new")
    write_bytes("big.bin", b"x" * int(sys.argv[1]))
    write_line("report")

run_stage(main)
"""


def run_limited(tmp_path, big: int, limit: int | None = None, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    """A stage that writes a small file and then a big one, under a file-size limit of `limit`
    bytes: a full disk, for the process alone and without privileges. SIGXFSZ ignored (a
    disposition that survives exec), the write fails with EFBIG instead of killing the process."""
    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    (tmp_path / "stage.py").write_text(STAGE)
    return subprocess.run([sys.executable, "stage.py", str(big)], cwd=tmp_path, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, preexec_fn=limit_file_size if limit else None)


def test_a_full_disk_at_a_stage_s_second_write_leaves_its_first_output_as_it_was(tmp_path):
    (tmp_path / "small.txt").write_text("old")
    (tmp_path / "big.bin").write_bytes(b"old")
    result = run_limited(tmp_path, big=100_000, limit=10_000)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: big.bin: cannot be written (File too large); the earlier outputs are as they were"]
    assert (tmp_path / "small.txt").read_text() == "old" and (tmp_path / "big.bin").read_bytes() == b"old"
    assert temporaries(tmp_path) == []
    assert run_limited(tmp_path, big=1_000, limit=10_000).returncode == 0
    assert (tmp_path / "small.txt").read_text() == "new" and (tmp_path / "big.bin").read_bytes() == b"x" * 1_000


def test_a_stage_s_report_to_a_full_device_leaves_the_earlier_outputs(tmp_path):
    (tmp_path / "small.txt").write_text("old")
    with open("/dev/full", "w") as full:
        result = run_limited(tmp_path, big=10, stdout=full)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: standard output: cannot write (No space left on device); the earlier outputs are as they were; "
        "free some space or write elsewhere"]
    assert (tmp_path / "small.txt").read_text() == "old" and not (tmp_path / "big.bin").exists()
    assert temporaries(tmp_path) == []


def test_messages_to_a_full_stderr_are_lost_and_nothing_else(tmp_path):
    script = "from charlm.cli import run_stage, warn\nrun_stage(lambda: warn('a warning nobody can read'))\n"
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-c", script], stderr=full, stdout=subprocess.PIPE)
    assert result.returncode == 0 and result.stdout == b""


def temporaries(folder) -> list[str]:
    return [str(p) for p in folder.rglob(".*.tmp*")]
