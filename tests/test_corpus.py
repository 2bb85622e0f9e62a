import zipfile

import pytest

from charlm.corpus import normalize, read_zip_member
from charlm.errors import UserError
from conftest import make_zip


def test_reads_member_and_normalizes_like_the_book(tmp_path):
    path = make_zip(tmp_path / "c.zip", "想要有直升机\n想要和你飞到宇宙去\r\n融化")
    text = read_zip_member(path, "jaychou_lyrics.txt")
    assert normalize(text, True, None) == "想要有直升机 想要和你飞到宇宙去 融化"
    assert normalize(text, False, 3) == "想要有"


def test_missing_corpus_says_how_to_get_it(tmp_path):
    with pytest.raises(UserError, match=r"corpus not found; run `dvc pull data/jaychou_lyrics.txt.zip.dvc`"):
        read_zip_member(tmp_path / "absent.zip", "jaychou_lyrics.txt")


def test_not_a_zip(tmp_path):
    (tmp_path / "c.zip").write_text("plain text")
    with pytest.raises(UserError, match="not a zip archive"):
        read_zip_member(tmp_path / "c.zip", "jaychou_lyrics.txt")


def test_zip_without_the_member_lists_what_it_holds(tmp_path):
    path = make_zip(tmp_path / "c.zip", "abc", member="other.txt")
    with pytest.raises(UserError, match=r"no member 'jaychou_lyrics.txt' in the zip \(it holds other.txt\)"):
        read_zip_member(path, "jaychou_lyrics.txt")


def test_non_utf8_member_gives_the_byte_offset(tmp_path):
    path = tmp_path / "c.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("jaychou_lyrics.txt", "分开".encode("utf-8") + b"\xff" + "x".encode())
    with pytest.raises(UserError, match="not UTF-8 text \\(invalid byte at offset 6\\)"):
        read_zip_member(path, "jaychou_lyrics.txt")


@pytest.mark.parametrize("text", ["", " \n\n  "])
def test_empty_corpus_is_an_error(text):
    with pytest.raises(UserError, match="empty or only whitespace"):
        normalize(text, True, None)
