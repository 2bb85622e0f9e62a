"""Read the corpus (a UTF-8 text file, or a member of a zip archive) and normalise it as the book does."""

import lzma
import os
import stat
import zipfile
import zlib
from pathlib import Path

from charlm.errors import UserError

# The most text a corpus may hold (256 MiB: nearly 90 times the lyrics; the n-gram's counts grow
# by gigabytes long before it), read in bounded memory, so that a zip bomb (4 MB of zip, 4 GiB of
# text) or a huge file is refused instead of filling the memory.
MAX_CORPUS_BYTES = 256 * 2**20
_CHUNK = 2**20
# Python's zipfile reads these methods only; another (deflate64, say) is refused up front.
READABLE_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2",
                     zipfile.ZIP_LZMA: "lzma"}
_METHOD_NAMES = {9: "deflate64", 6: "implode", 1: "shrink", 93: "zstandard", 95: "xz", 98: "ppmd"}


def read_corpus(path: str | Path, member: str | None, max_bytes: int = MAX_CORPUS_BYTES) -> str:
    """The text that `unzip.path` names: member `member` of a `.zip`, or the file itself as UTF-8.
    At most `max_bytes` of text are read (a zip member's uncompressed size)."""
    path = Path(path)
    with _open_regular_file(path) as f:
        if path.suffix.lower() == ".zip":
            return _read_zip_member(f, path, member, max_bytes)
        data = _read_at_most(f, max_bytes, f"{path} (unzip.path)")
    return _decode(data, f"{path} (unzip.path): not UTF-8 text")


def _open_regular_file(path: Path):
    """`path` opened for reading, refused unless it is a regular file: a FIFO would block the
    stage (it is opened without waiting for a writer, then refused), a folder or a device is no corpus."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise UserError(f"{path} (unzip.path): corpus not found; {_get_corpus_hint(path)}") from None
    except OSError as e:
        raise UserError(f"{path} (unzip.path): cannot be read ({e.strerror})") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = ("a folder" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "not a regular file")
        raise UserError(f"{path} (unzip.path): {what}, not a corpus; set unzip.path in params.yaml to a regular "
                        f"UTF-8 text file or a .zip holding one (DVC tracks files, not streams)")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _read_at_most(stream, max_bytes: int, what: str) -> bytes:
    """All of `stream`, in chunks, stopping as soon as it holds more than `max_bytes`."""
    chunks, size = [], 0
    while chunk := stream.read(min(_CHUNK, max_bytes + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise UserError(f"{what}: more than {max_bytes:,} bytes of text, the most a corpus may hold "
                            f"({_size_text(max_bytes)}); use a shorter corpus")
    return b"".join(chunks)


def _size_text(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n:,} bytes"


def _get_corpus_hint(path: Path) -> str:
    # A DVC-tracked corpus is fetched by its .dvc file; anything else is the user's own path.
    if Path(f"{path}.dvc").is_file():
        return f"run `dvc pull {path}.dvc` (see the README for getting the lyrics from d2l-zh)"
    return "set unzip.path in params.yaml to a UTF-8 text file or a .zip holding one"


def _read_zip_member(file, zip_path: Path, member: str | None, max_bytes: int) -> str:
    try:
        archive = zipfile.ZipFile(file)
    except zipfile.BadZipFile:
        raise UserError(f"{zip_path} (unzip.path): not a zip archive; {_get_corpus_hint(zip_path)}") from None
    with archive:
        names = archive.namelist()
        if member not in names:
            which = f"no member '{member}'" if member else "no unzip.member given"
            raise UserError(f"{zip_path}: {which} in the zip (it holds {', '.join(names) or 'nothing'}); "
                            f"set unzip.member in params.yaml")
        where = f"{zip_path}: member '{member}'"
        remake = "zip the text again with deflate and no password (`zip corpus.zip lyrics.txt`)"
        info = archive.getinfo(member)
        if info.flag_bits & 0x1:
            raise UserError(f"{where} is encrypted (password-protected), which the pipeline cannot read; {remake}")
        if info.compress_type not in READABLE_METHODS:
            method = _METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
            raise UserError(f"{where} is compressed with {method}, which Python's zipfile cannot read; {remake}")
        if info.file_size > max_bytes:  # as the zip declares it; the bounded read below holds whatever it declares
            raise UserError(f"{where}: {info.file_size:,} bytes uncompressed, more than the {max_bytes:,} bytes "
                            f"({_size_text(max_bytes)}) a corpus may hold; use a shorter corpus")
        try:
            with archive.open(info) as stream:
                data = _read_at_most(stream, max_bytes, where)
        except NotImplementedError as e:  # strong encryption, patch data: zip features zipfile lacks
            raise UserError(f"{where} uses a zip feature Python's zipfile cannot read ({e}); {remake}") from None
        except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError) as e:
            # A bad CRC, or a damaged deflate, bzip2 or lzma stream (each library says so its own way).
            raise UserError(f"{where} is corrupt ({e}); fetch the zip again or {remake}") from None
    return _decode(data, f"{where} is not UTF-8 text")


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{what} (invalid byte at offset {e.start}); convert it to UTF-8") from None


def normalize(text: str, newlines_to_spaces: bool, max_chars: int | None) -> str:
    """Line breaks become spaces (the book's choice), then keep the first `max_chars` characters."""
    if newlines_to_spaces:
        text = spaces_for_newlines(text)
    if max_chars is not None:
        text = text[:max_chars]
    if not text.strip():
        raise UserError("the corpus is empty or only whitespace; check unzip.path and unzip.max_chars")
    return text


def spaces_for_newlines(text: str) -> str:
    return text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
