"""Atomic file writes: every output goes to a temporary name in its folder, then is renamed.
And a lock, so that one checkout runs one training at a time.

A stage writes several files (train: weights, config and three metrics files; generate: samples
and their measures; vocab: ten files), and each written atomically is not enough: if the disk
fills at the third, the first two would already be new and the rest old. So `run_stage` runs a
stage inside `outputs_together()`, under which every write goes to its temporary name as usual
but the renames wait until the stage's main function has succeeded (its report on stdout
included), and then happen one after another; a rename moves no data, so a disk that filled up
cannot stop them halfway. A failure anywhere before that removes every temporary and leaves all
the earlier outputs as they were.
Outside that block (the library used on its own, the tests) each write is renamed at once.

Some writes must land while the stage still runs: the training checkpoint is written at the end
of every epoch so that a killed run resumes from it (charlm.checkpoint), which it could not do
if the checkpoint waited for the end of training. Those pass `immediately=True`. Nothing else a
stage writes is needed before it ends (train writes its history and timing after the last
epoch), so nothing else does.

A write that fails (a full disk, a file-size limit, a folder that cannot be written or is a file)
is a user error naming the output and saying that the earlier outputs are intact; the exported
SavedModel's writer raises TensorFlow errors instead of OSError, which charlm.export turns into
the same line through `cannot_write`.
"""

import contextlib
import errno
import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from charlm.errors import UserError

# The renames that `outputs_together` holds back, in the order the writes ended; None outside it.
_deferred: list[tuple[Path, Path]] | None = None


@contextlib.contextmanager
def outputs_together() -> Iterator[None]:
    """Within the block, atomic writes keep their temporaries and rename them all into place when
    the block succeeds; if it fails (or is interrupted), every temporary is removed and no output
    changes."""
    global _deferred
    if _deferred is not None:
        raise RuntimeError("outputs_together() does not nest")
    _deferred = []
    try:
        yield
        pending, _deferred = _deferred, None
        _rename_all(pending)
    finally:
        for tmp, _ in _deferred or []:
            _remove(tmp)
        _deferred = None


def outputs_pending() -> bool:
    """Whether writes are waiting for the end of `outputs_together` to be renamed into place."""
    return bool(_deferred)


def _rename_all(pending: list[tuple[Path, Path]]) -> None:
    for done, (tmp, path) in enumerate(pending):
        try:
            _put_in_place(tmp, path)
        except OSError as e:  # not for want of space; a rename fails only if the folder changed under it
            for later, _ in pending[done:]:
                _remove(later)
            replaced = ", ".join(str(p) for _, p in pending[:done]) or "none"
            raise UserError(f"{path}: cannot be renamed into place ({_reason(e, path)}); of this stage's outputs "
                            f"these were already replaced: {replaced}; the others are as they were") from None


def _put_in_place(tmp: Path, path: Path) -> None:
    if tmp.is_dir():
        # A folder cannot be renamed over another, so the old one is moved aside first.
        old = tmp.with_name(f"{tmp.name}.old")
        if path.exists():
            os.replace(path, old)
        try:
            os.replace(tmp, path)
        except OSError:
            if old.exists():
                os.replace(old, path)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


def _remove(tmp: Path) -> None:
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.unlink(missing_ok=True)


def cannot_write(path: str | os.PathLike, reason: str, error_number: int | None = None) -> UserError:
    """The one line for an output that could not be written."""
    hint = "; free some space and rerun" if error_number in (errno.ENOSPC, errno.EDQUOT) else ""
    return UserError(f"{path}: cannot be written ({reason}); the earlier outputs are as they were{hint}")


def _reason(error: OSError, path: Path) -> str:
    """What went wrong, in words: the system's, or which folder on the way is a file."""
    for folder in [path.parent, *path.parent.parents]:
        if folder.exists() and not folder.is_dir():
            return f"{folder} is a file, not a folder"
    return error.strerror or str(error)


@contextlib.contextmanager
def _written(path: Path, make_temporary: Callable[[], Path], immediately: bool) -> Iterator[Path]:
    """The life of one atomic write: a temporary beside `path`, filled by the block, then renamed
    now or at the end of `outputs_together`, or removed if anything fails."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = make_temporary()
    except OSError as e:
        raise cannot_write(path, _reason(e, path), e.errno) from None
    deferred = False
    try:
        try:
            yield tmp
            if tmp.is_file():
                with open(tmp, "rb") as f:
                    os.fsync(f.fileno())
            if _deferred is not None and not immediately:
                _deferred.append((tmp, path))
                deferred = True
            else:
                _put_in_place(tmp, path)
        except OSError as e:
            raise cannot_write(path, _reason(e, path), e.errno) from None
    finally:
        if not deferred:
            _remove(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, immediately: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds
    (inside `outputs_together`, when that block succeeds, unless `immediately`)."""
    path = Path(path)

    def make() -> Path:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        # mkstemp makes the file private (0600); give it the mode any other new file would get.
        os.fchmod(fd, 0o666 & ~_current_umask())
        os.close(fd)
        return Path(tmp)

    with _written(path, make, immediately) as tmp:
        yield tmp


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; it replaces `path` (and all it held) only if the
    block succeeds (inside `outputs_together`, when that block succeeds)."""
    path = Path(path)

    def make() -> Path:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        tmp.chmod(0o777 & ~_current_umask())
        return tmp

    with _written(path, make, immediately=False) as tmp:
        yield tmp


def _current_umask() -> int:
    """The process's umask; reading it means setting it, so it is set straight back."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes, immediately: bool = False) -> None:
    with atomic_path(path, immediately) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as JSON; a NaN or infinite figure (not JSON, and never a result) is a user error
    that leaves the earlier file as it was."""
    try:
        text = json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise UserError(f"{path}: a figure came out NaN or infinite, so nothing was written (the earlier file is "
                        f"as it was); a step size (train.lr, dynamic.lr) too large for the model diverges: lower it") from None
    write_text(path, text + "\n")


def save_array(path: str | os.PathLike, array: np.ndarray) -> None:
    """`.npy` holds only a header and the raw data, so equal arrays give equal bytes."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)


def read_text(path: str | os.PathLike, made_by: str) -> str:
    """Read an earlier stage's text output; if it is missing, say which stage makes it."""
    _require(path, made_by)
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (invalid byte at offset {e.start}), so not what `dvc repro {made_by}` "
                        f"wrote; rerun `dvc repro --force {made_by}`") from None


def load_array(path: str | os.PathLike, made_by: str) -> np.ndarray:
    _require(path, made_by)
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as e:
        raise UserError(f"{path}: unreadable array ({e}); rerun `dvc repro --force {made_by}`") from None


def read_bytes_at_most(path: str | os.PathLike, limit: int, kind: str, missing: str) -> bytes:
    """Up to `limit` + 1 bytes of the file `path` (more than `limit` tells the caller it is too
    large, without reading an endless file to its end). `kind` names what the file should be
    ("a params file") and `missing` what to say when it is absent; other failures are one line."""
    try:
        with open(path, "rb") as f:
            return f.read(limit + 1)
    except FileNotFoundError:
        raise UserError(f"{path}: {missing}") from None
    except IsADirectoryError:
        raise UserError(f"{path}: a folder, not {kind}") from None
    except OSError as e:
        raise UserError(f"{path}: cannot be read ({e.strerror})") from None


def _require(path, made_by: str) -> None:
    if not Path(path).is_file():
        raise UserError(f"{path}: not found; run `dvc repro {made_by}` first")


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, what: str) -> Iterator[None]:
    """Hold an exclusive lock on `path` (holding this process's id) for the block; if another
    process holds it, a user error naming that process. The operating system releases the lock
    when the holder ends, however it ends."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise UserError(f"{what} is already running in this checkout (process {holder}, holding {path}); "
                            f"wait for it to end or stop it first") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)
