"""Read the corpus (a UTF-8 text file, or a member of a zip archive) and normalise it as the book does."""

import zipfile
from pathlib import Path

from charlm.errors import UserError


def read_corpus(path: str | Path, member: str | None) -> str:
    """The text that `unzip.path` names: member `member` of a `.zip`, or the file itself as UTF-8."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} (unzip.path): corpus not found; {_get_corpus_hint(path)}")
    if path.suffix.lower() == ".zip":
        return _read_zip_member(path, member)
    return _decode(path.read_bytes(), f"{path} (unzip.path): not UTF-8 text")


def _get_corpus_hint(path: Path) -> str:
    # A DVC-tracked corpus is fetched by its .dvc file; anything else is the user's own path.
    if Path(f"{path}.dvc").is_file():
        return f"run `dvc pull {path}.dvc` (see the README for getting the lyrics from d2l-zh)"
    return "set unzip.path in params.yaml to a UTF-8 text file or a .zip holding one"


def _read_zip_member(zip_path: Path, member: str | None) -> str:
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
            if member not in names:
                which = f"no member '{member}'" if member else "no unzip.member given"
                raise UserError(f"{zip_path}: {which} in the zip (it holds {', '.join(names) or 'nothing'}); "
                                f"set unzip.member in params.yaml")
            data = archive.read(member)
    except zipfile.BadZipFile:
        raise UserError(f"{zip_path} (unzip.path): not a zip archive; {_get_corpus_hint(zip_path)}") from None
    return _decode(data, f"{zip_path}: member '{member}' is not UTF-8 text")


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
