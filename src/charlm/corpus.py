"""Read the lyrics text out of its zip archive and normalise it as the book does."""

import zipfile
from pathlib import Path

from charlm.errors import UserError

GET_CORPUS_HINT = "run `dvc pull data/jaychou_lyrics.txt.zip.dvc` (see the README for getting it from d2l-zh)"


def read_zip_member(zip_path: str | Path, member: str) -> str:
    """Return `member` of the zip at `zip_path` decoded as UTF-8, or raise a UserError."""
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise UserError(f"{zip_path}: corpus not found; {GET_CORPUS_HINT}")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            names = archive.namelist()
            if member not in names:
                raise UserError(f"{zip_path}: no member '{member}' in the zip (it holds {', '.join(names) or 'nothing'}); "
                                f"set unzip.member in params.yaml")
            data = archive.read(member)
    except zipfile.BadZipFile:
        raise UserError(f"{zip_path}: not a zip archive; {GET_CORPUS_HINT}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{zip_path}: member '{member}' is not UTF-8 text (invalid byte at offset {e.start}); "
                        f"convert it to UTF-8") from None


def normalize(text: str, newlines_to_spaces: bool, max_chars: int | None) -> str:
    """Line breaks become spaces (the book's choice), then keep the first `max_chars` characters."""
    if newlines_to_spaces:
        text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    if max_chars is not None:
        text = text[:max_chars]
    if not text.strip():
        raise UserError("the corpus is empty or only whitespace; check the zip and unzip.max_chars")
    return text
