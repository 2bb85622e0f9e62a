"""End-of-epoch checkpoints, so an interrupted `dvc repro` resumes where it stopped.

One safetensors file holds everything (model variables including the dropout seed state,
optimizer variables, the best weights so far) with the loop's state as JSON metadata, and is
replaced atomically: a kill at any moment leaves either the previous checkpoint or the new one.
A checkpoint is used only if it was made with the same params and data (its `key`) and its run
had not finished; otherwise training starts afresh.
"""

import json
from pathlib import Path

import numpy as np
import safetensors.numpy

from charlm.io import write_bytes

FILE_NAME = "train.safetensors"


class Checkpoint:
    def __init__(self, folder: str | Path, key: str):
        self.path = Path(folder) / FILE_NAME
        self.key = key

    def save(self, model, optimizer, loop_state: dict, best_weights: list[np.ndarray]) -> None:
        tensors = {}
        for prefix, arrays in [("model", [v.numpy() for v in model.variables]),
                               ("optimizer", [v.numpy() for v in optimizer.variables]),
                               ("best", best_weights)]:
            tensors.update({f"{prefix}/{i:03d}": np.array(a, order="C") for i, a in enumerate(arrays)})
        # One metadata entry: safetensors writes several in a per-process random order.
        state = json.dumps({"key": self.key, "loop": loop_state}, sort_keys=True)
        write_bytes(self.path, safetensors.numpy.save(tensors, metadata={"state": state}))

    def restore(self, model, optimizer) -> tuple[dict, list[np.ndarray]] | None:
        """Load the checkpoint into `model` and `optimizer`; None if there is none to resume."""
        if not self.path.is_file():
            return None
        try:
            with safetensors.safe_open(str(self.path), framework="numpy") as f:
                state = json.loads((f.metadata() or {}).get("state", "{}"))
                tensors = {name: f.get_tensor(name) for name in f.keys()}
        except Exception:  # unreadable: start afresh rather than fail (it will be overwritten)
            return None
        loop_state = state.get("loop", {})
        if state.get("key") != self.key or loop_state.get("finished", True):
            return None
        optimizer.build(model.trainable_variables)
        for prefix, variables in [("model", model.variables), ("optimizer", optimizer.variables)]:
            for i, variable in enumerate(variables):
                variable.assign(tensors[f"{prefix}/{i:03d}"])
        best = [tensors[f"best/{i:03d}"] for i in range(len(model.weights))]
        return loop_state, best

