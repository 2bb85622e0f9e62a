"""Stage 1: the corpus that `unzip.path` names (a UTF-8 text file or a .zip) -> data/interim/corpus.txt."""

import this_checkout  # noqa: F401  (first: this checkout's src/, not an installed copy's)
from charlm import params
from charlm.cli import run_stage, write_line
from charlm.corpus import normalize, read_corpus
from charlm.io import write_text

CORPUS_PATH = "data/interim/corpus.txt"


def main() -> None:
    p = params.load("unzip")
    text = normalize(read_corpus(p.path, p.member), p.newlines_to_spaces, p.max_chars)
    write_text(CORPUS_PATH, text)
    write_line(f"unzip: {len(text):,} characters -> {CORPUS_PATH}")


if __name__ == "__main__":
    run_stage(main)
