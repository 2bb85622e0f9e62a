"""Atomic file writes: every output goes to a temporary name in its folder, then is renamed.
And a lock, so that one checkout runs one training at a time."""

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from charlm.errors import UserError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp makes the file private (0600); give it the mode any other new file would get.
    os.fchmod(fd, 0o666 & ~_current_umask())
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; it replaces `path` (and all it held) only if the
    block succeeds. A folder cannot be renamed over another, so the old one is moved aside first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    tmp.chmod(0o777 & ~_current_umask())
    old = path.with_name(f"{tmp.name}.old")
    try:
        yield tmp
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _current_umask() -> int:
    """The process's umask; reading it means setting it, so it is set straight back."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
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
