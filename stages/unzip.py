"""Stage 1: data/jaychou_lyrics.txt.zip -> data/interim/corpus.txt."""

from charlm import params
from charlm.cli import run_stage
from charlm.corpus import normalize, read_zip_member
from charlm.io import write_text

ZIP_PATH = "data/jaychou_lyrics.txt.zip"
CORPUS_PATH = "data/interim/corpus.txt"


def main() -> None:
    p = params.load("unzip")
    text = normalize(read_zip_member(ZIP_PATH, p.member), p.newlines_to_spaces, p.max_chars)
    write_text(CORPUS_PATH, text)
    print(f"unzip: {len(text):,} characters -> {CORPUS_PATH}")


if __name__ == "__main__":
    run_stage(main)
