"""Corpora that would crash, hang or fill the memory: an encrypted zip member, one stored with a
method Python cannot read, a corrupt deflate stream, a zip bomb, and an `unzip.path` that names
a FIFO or a folder. Every zip is built by the test with zipfile, then patched where zipfile
cannot write what is wanted (encryption, deflate64)."""

import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from charlm.corpus import MAX_CORPUS_BYTES, read_corpus
from charlm.errors import UserError
from conftest import ROOT, VERSE, make_zip, write_params

MEMBER = "jaychou_lyrics.txt"
LOCAL_HEADER, CENTRAL_HEADER = b"PK\x03\x04", b"PK\x01\x02"


def _patch_headers(path: Path, local_offset: int, central_offset: int, fmt: str, value: int) -> None:
    """Write `value` at the same field of the member's local header and of its central directory entry."""
    data = bytearray(path.read_bytes())
    local, central = data.index(LOCAL_HEADER), data.index(CENTRAL_HEADER)
    struct.pack_into(fmt, data, local + local_offset, value)
    struct.pack_into(fmt, data, central + central_offset, value)
    path.write_bytes(bytes(data))


def test_an_encrypted_member(tmp_path):
    path = make_zip(tmp_path / "c.zip", VERSE)
    _patch_headers(path, 6, 8, "<H", 0x1)  # general purpose flag, bit 0: encrypted
    with pytest.raises(UserError, match=rf"c.zip: member '{MEMBER}' is encrypted \(password-protected\), which the "
                                        r"pipeline cannot read; zip the text again with deflate and no password"):
        read_corpus(path, MEMBER)


@pytest.mark.parametrize("method, name", [(9, "deflate64"), (97, "method 97")])
def test_a_member_compressed_with_a_method_zipfile_cannot_read(tmp_path, method, name):
    path = make_zip(tmp_path / "c.zip", VERSE)
    _patch_headers(path, 8, 10, "<H", method)
    with pytest.raises(UserError, match=rf"member '{MEMBER}' is compressed with {name}, which Python's zipfile "
                                        r"cannot read; zip the text again"):
        read_corpus(path, MEMBER)


def test_a_corrupt_deflate_stream(tmp_path):
    path = tmp_path / "c.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MEMBER, (VERSE * 200).encode("utf-8"))
    data = bytearray(path.read_bytes())
    start = data.index(LOCAL_HEADER) + 30 + len(MEMBER)
    for i in range(start + 2, start + 40):  # scribble over the compressed stream's first blocks
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    with pytest.raises(UserError, match=rf"member '{MEMBER}' is corrupt \(.+\); fetch the zip again or zip the text"):
        read_corpus(path, MEMBER)


def test_a_crc_mismatch(tmp_path):
    path = make_zip(tmp_path / "c.zip", VERSE)
    _patch_headers(path, 14, 16, "<I", 0xDEADBEEF)  # CRC-32
    with pytest.raises(UserError, match=rf"member '{MEMBER}' is corrupt \(Bad CRC-32"):
        read_corpus(path, MEMBER)


def _zeros_zip(path: Path, size: int) -> Path:
    chunk = bytes(2**20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open(MEMBER, "w", force_zip64=True) as member:
            for _ in range(size // len(chunk)):
                member.write(chunk)
    return path


# Reads a corpus in a process of its own and prints the error and the peak memory it took (kB):
# VmHWM, its own high-water mark (ru_maxrss would carry over the forking test process's).
READ_IN_A_PROCESS = """
import sys
from charlm.corpus import read_corpus
from charlm.errors import UserError
try:
    read_corpus(sys.argv[1], sys.argv[2])
except UserError as e:
    print(e)
with open("/proc/self/status") as status:
    print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
"""


def test_a_zip_bomb_is_refused_in_bounded_memory(tmp_path):
    path = _zeros_zip(tmp_path / "bomb.zip", 512 * 2**20)  # 512 MiB of NULs in about 2 MB of zip
    assert path.stat().st_size < 4 * 2**20
    result = subprocess.run([sys.executable, "-c", READ_IN_A_PROCESS, str(path), MEMBER], capture_output=True,
                            text=True, timeout=60)
    error, peak_kb = result.stdout.splitlines()
    assert error == (f"{path}: member '{MEMBER}': 536,870,912 bytes uncompressed, more than the {MAX_CORPUS_BYTES:,} "
                     f"bytes (256 MiB) a corpus may hold; use a shorter corpus")
    assert int(peak_kb) < 200 * 1024  # never near the 512 MiB it holds


def test_a_zip_whose_header_understates_its_size_is_read_no_further_than_it_says(tmp_path):
    # Past the declared size zipfile stops and the CRC fails: the member is corrupt, not read in full.
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr(MEMBER, bytes(64 * 2**20))
    _patch_headers(path, 22, 24, "<I", 1000)  # the uncompressed size: 1,000 bytes, it says
    result = subprocess.run([sys.executable, "-c", READ_IN_A_PROCESS, str(path), MEMBER], capture_output=True,
                            text=True, timeout=60)
    error, peak_kb = result.stdout.splitlines()
    assert error.startswith(f"{path}: member '{MEMBER}' is corrupt (Bad CRC-32")
    assert int(peak_kb) < 200 * 1024


def test_the_streamed_read_stops_past_the_limit(tmp_path):
    path = tmp_path / "big.txt"
    path.write_bytes(b"a" * (2 * 2**20 + 1))
    with pytest.raises(UserError, match=r"big.txt \(unzip.path\): more than 2,097,152 bytes of text, the most a "
                                        r"corpus may hold \(2 MiB\); use a shorter corpus"):
        read_corpus(path, None, max_bytes=2 * 2**20)
    assert read_corpus(path, None, max_bytes=2 * 2**20 + 1) == "a" * (2 * 2**20 + 1)
    zipped = make_zip(tmp_path / "c.zip", "分开" * 100)
    assert read_corpus(zipped, MEMBER, max_bytes=600) == "分开" * 100
    with pytest.raises(UserError, match=r"600 bytes uncompressed, more than the 599 bytes \(599 bytes\)"):
        read_corpus(zipped, MEMBER, max_bytes=599)


def _unzip_stage(folder: Path, corpus: str) -> subprocess.CompletedProcess:
    """The unzip stage, as dvc.yaml runs it, in `folder` with `corpus` as unzip.path."""
    write_params(folder / "params.yaml", {"unzip.path": corpus})
    return subprocess.run([sys.executable, str(ROOT / "stages/unzip.py")], cwd=folder, capture_output=True,
                          text=True, timeout=20)


@pytest.mark.parametrize("name", ["lyrics.zip", "lyrics.txt"])
def test_a_fifo_as_the_corpus_is_refused_without_waiting(tmp_path, name):
    os.mkfifo(tmp_path / name)  # no writer ever comes: reading it would block the stage for good
    result = _unzip_stage(tmp_path, name)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {name} (unzip.path): a named pipe (FIFO), not a corpus; set unzip.path in params.yaml to a regular "
        f"UTF-8 text file or a .zip holding one (DVC tracks files, not streams)"]


@pytest.mark.parametrize("name", ["lyrics.zip", "lyrics"])
def test_a_folder_as_the_corpus(tmp_path, name):
    (tmp_path / name).mkdir()
    result = _unzip_stage(tmp_path, name)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: {name} (unzip.path): a folder, not a corpus; set unzip.path in params.yaml to a regular UTF-8 text "
        f"file or a .zip holding one (DVC tracks files, not streams)"]
    assert not (tmp_path / "data/interim/corpus.txt").exists()


def test_a_device_as_the_corpus(tmp_path):
    result = _unzip_stage(tmp_path, "/dev/zero")
    assert result.returncode == 1
    assert result.stderr.splitlines()[0].startswith("error: /dev/zero (unzip.path): a device, not a corpus")
