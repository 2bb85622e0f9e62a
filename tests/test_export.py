"""The export stage on a model made by the test: two runs give the same bytes, even for a model
whose dropout layer holds a random seed state (which inference never reads)."""

import hashlib
import subprocess
import sys

from charlm.io import write_text
from charlm.model import ModelConfig, build_model, save_model
from charlm.tf_runtime import make_deterministic
from charlm.vocab import build_vocabulary
from conftest import ROOT, VERSE


def _export(folder) -> dict[str, str]:
    subprocess.run([sys.executable, str(ROOT / "stages/export.py")], cwd=folder, check=True, capture_output=True)
    files = sorted(p for p in (folder / "models/savedmodel").rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest() for p in files}


def test_two_exports_of_a_model_with_dropout_give_the_same_bytes(tmp_path):
    make_deterministic(0)
    vocab = build_vocabulary(VERSE)
    write_text(tmp_path / "data/processed/vocab.json", vocab.to_json())
    save_model(build_model(ModelConfig(vocab.size, "embedding", 8, "gru", 8, 1, 0.5, 0.0, False, vocab.fingerprint())),
               tmp_path / "models")
    first = _export(tmp_path)
    assert "models/savedmodel/saved_model.pb" in first and "models/savedmodel/fingerprint.pb" in first
    assert _export(tmp_path) == first
