"""A working copy holding what `charlm` reads after `dvc repro`, written by the library's own writers
for a tiny untrained model: params.yaml, data/processed (vocab.json, train.npy, train_classes.npy),
models/ (weights.safetensors, config.json) and metrics/eval.json. Faster than a pipeline run, for
tests that are about the files and streams around the model, not about its training."""

import json
from pathlib import Path

from conftest import VERSE, write_params

CONFIG = dict(input="embedding", embedding_dim=8, cell="gru", hidden_size=8, num_layers=1, dropout=0.0,
              recurrent_dropout=0.0, tie_embeddings=False)


def make_working_copy(folder: Path, text: str = VERSE * 3, **config) -> Path:
    from charlm.io import save_array, write_text
    from charlm.model import ModelConfig, build_model, save_model
    from charlm.tf_runtime import make_deterministic
    from charlm.vocab import build_vocabulary

    folder.mkdir(parents=True, exist_ok=True)
    write_params(folder / "params.yaml")
    vocab = build_vocabulary(text)
    write_text(folder / "data/processed/vocab.json", vocab.to_json())
    save_array(folder / "data/processed/train.npy", vocab.encode(text))
    save_array(folder / "data/processed/train_classes.npy", vocab.class_vocabulary().encode(text))
    make_deterministic(0)
    model_config = ModelConfig(vocab_size=vocab.size, vocab_fingerprint=vocab.fingerprint(), **{**CONFIG, **config})
    save_model(build_model(model_config), folder / "models")
    (folder / "metrics").mkdir(exist_ok=True)
    (folder / "metrics/eval.json").write_text(json.dumps({"classes": vocab.class_count,
                                                          "mixture": {"network_weight": 0.5}}))
    return folder
