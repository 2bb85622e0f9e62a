import zipfile

import pytest

from charlm.corpus import normalize, read_corpus
from charlm.errors import UserError
from conftest import make_zip


def test_reads_member_and_normalizes_like_the_book(tmp_path):
    path = make_zip(tmp_path / "c.zip", "想要有直升机\n想要和你飞到宇宙去\r\n融化")
    text = read_corpus(path, "jaychou_lyrics.txt")
    assert normalize(text, True, None) == "想要有直升机 想要和你飞到宇宙去 融化"
    assert normalize(text, False, 3) == "想要有"


def test_reads_a_plain_text_file_and_keeps_its_newlines(tmp_path):
    path = tmp_path / "poems.txt"
    path.write_text("Roses are red,\nviolets are blue\n", encoding="utf-8")
    assert read_corpus(path, None) == "Roses are red,\nviolets are blue\n"
    assert normalize(read_corpus(path, "ignored.txt"), False, None) == "Roses are red,\nviolets are blue\n"


def test_missing_tracked_corpus_says_how_to_get_it(tmp_path):
    (tmp_path / "absent.zip.dvc").write_text("outs: []\n")
    with pytest.raises(UserError, match=r"absent.zip \(unzip.path\): corpus not found; run `dvc pull .*absent.zip.dvc`"):
        read_corpus(tmp_path / "absent.zip", "jaychou_lyrics.txt")


def test_missing_own_corpus_names_the_param(tmp_path):
    with pytest.raises(UserError, match=r"mine.txt \(unzip.path\): corpus not found; set unzip.path in params.yaml"):
        read_corpus(tmp_path / "mine.txt", None)


def test_not_a_zip(tmp_path):
    (tmp_path / "c.zip").write_text("plain text")
    with pytest.raises(UserError, match=r"\(unzip.path\): not a zip archive"):
        read_corpus(tmp_path / "c.zip", "jaychou_lyrics.txt")


def test_zip_without_the_member_lists_what_it_holds(tmp_path):
    path = make_zip(tmp_path / "c.zip", "abc", member="other.txt")
    with pytest.raises(UserError, match=r"no member 'jaychou_lyrics.txt' in the zip \(it holds other.txt\)"):
        read_corpus(path, "jaychou_lyrics.txt")
    with pytest.raises(UserError, match=r"no unzip.member given in the zip \(it holds other.txt\); set unzip.member"):
        read_corpus(path, None)


def test_non_utf8_member_gives_the_byte_offset(tmp_path):
    path = tmp_path / "c.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("jaychou_lyrics.txt", "分开".encode("utf-8") + b"\xff" + "x".encode())
    with pytest.raises(UserError, match="not UTF-8 text \\(invalid byte at offset 6\\)"):
        read_corpus(path, "jaychou_lyrics.txt")


def test_non_utf8_text_file_names_the_param(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"latin1.txt \(unzip.path\): not UTF-8 text \(invalid byte at offset 3\); "
                                        r"convert it to UTF-8"):
        read_corpus(path, None)


@pytest.mark.parametrize("text", ["", " \n\n  "])
def test_empty_corpus_is_an_error(text):
    with pytest.raises(UserError, match="empty or only whitespace"):
        normalize(text, True, None)
