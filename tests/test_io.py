import json
import os
import stat

import pytest

from charlm.errors import UserError
from charlm.io import atomic_folder, write_json, write_text


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
