"""End-of-epoch checkpoints, so an interrupted `dvc repro` resumes where it stopped.

One safetensors file holds everything (model variables including the dropout seed state,
optimizer variables, the best weights so far) with the loop's state as JSON metadata, and is
replaced atomically: a kill at any moment leaves either the previous checkpoint or the new one.
It is written at once (`immediately`), not held back with the stage's other outputs until the
stage ends (charlm.io.outputs_together): a run killed in its tenth epoch resumes from its ninth.
A checkpoint is used only if it was made with the same params, data, code and library versions
(its `key`) and its run had not finished; otherwise training starts afresh.
"""

import dataclasses
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy

from charlm.cli import warn
from charlm.io import write_bytes

FILE_NAME = "train.safetensors"


def run_key(params, *arrays: np.ndarray) -> str:
    """What a checkpoint must match to be resumed: the params, the data, and the code that trains.

    The code is every `charlm` module loaded at this point and the script being run (the same
    files the stage's dvc.yaml deps list, which a test keeps in step with its imports), plus the
    versions of the libraries that compute and save the weights. Editing any of them while a run
    is interrupted makes DVC rerun the stage, and the rerun then starts afresh.
    """
    import keras
    import tensorflow as tf

    digest = hashlib.sha256(json.dumps(dataclasses.asdict(params), sort_keys=True).encode())
    for array in arrays:
        digest.update(b"|array|" + array.tobytes())
    scripts = {name: module.__file__ for name, module in list(sys.modules.items())
               if (name == "__main__" or name == "charlm" or name.startswith("charlm."))
               and getattr(module, "__file__", None)}
    for name in sorted(scripts):
        digest.update(f"|{name}|".encode() + Path(scripts[name]).read_bytes())
    versions = {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
                "safetensors": safetensors.__version__}
    digest.update(json.dumps(versions, sort_keys=True).encode())
    return digest.hexdigest()


class Checkpoint:
    def __init__(self, folder: str | Path, key: str):
        self.path = Path(folder) / FILE_NAME
        self.key = key

    def save(self, model, optimizer, loop_state: dict, best_weights: list[np.ndarray] | None,
             states: list[np.ndarray] | None = None) -> None:
        """`states`: the streams' recurrent states in the middle of an epoch (loop_state["partial"])."""
        tensors = {}
        best_weights = [v.numpy() for v in model.weights] if best_weights is None else best_weights
        for prefix, arrays in [("model", [v.numpy() for v in model.variables]),
                               ("optimizer", [v.numpy() for v in optimizer.variables]),
                               ("best", best_weights), ("states", states or [])]:
            tensors.update({f"{prefix}/{i:03d}": np.array(a, order="C") for i, a in enumerate(arrays)})
        # One metadata entry: safetensors writes several in a per-process random order.
        state = json.dumps({"key": self.key, "loop": loop_state}, sort_keys=True)
        write_bytes(self.path, safetensors.numpy.save(tensors, metadata={"state": state}), immediately=True)

    def restore(self, model, optimizer, state_shapes: list[tuple[int, ...]] = ()
                ) -> tuple[dict, list[np.ndarray], list[np.ndarray] | None] | None:
        """Load the checkpoint into `model` and `optimizer`; return the loop's state, the best
        weights and, for a checkpoint made within an epoch, the streams' recurrent states (of
        `state_shapes`); None if there is none to resume."""
        if not self.path.is_file():
            return None
        try:
            with safetensors.safe_open(str(self.path), framework="numpy") as f:
                state = json.loads((f.metadata() or {}).get("state", "{}"))
                tensors = {name: f.get_tensor(name) for name in f.keys()}
        except Exception as error:  # unreadable: start afresh rather than fail (it will be overwritten)
            warn(f"{self.path}: unreadable checkpoint ({error}); training starts afresh")
            return None
        loop_state = state.get("loop", {})
        if loop_state.get("finished", True):
            return None
        if state.get("key") != self.key:
            warn(f"{self.path}: made with other params, data, code or library versions; training starts afresh")
            return None
        optimizer.build(model.trainable_variables)
        groups = [("model", model.variables), ("optimizer", optimizer.variables), ("best", model.weights)]
        # Check every tensor before assigning any, so a mismatch leaves the new model untouched.
        expected = {f"{prefix}/{i:03d}": tuple(v.shape) for prefix, variables in groups for i, v in enumerate(variables)}
        if "partial" in loop_state:
            expected.update({f"states/{i:03d}": shape for i, shape in enumerate(state_shapes)})
        found = {name: tuple(tensor.shape) for name, tensor in tensors.items()}
        if found != expected:
            warn(f"{self.path}: its variables do not fit this model; training starts afresh")
            return None
        for prefix, variables in groups[:2]:
            for i, variable in enumerate(variables):
                variable.assign(tensors[f"{prefix}/{i:03d}"])
        best = [tensors[f"best/{i:03d}"] for i in range(len(model.weights))]
        states = [tensors[f"states/{i:03d}"] for i in range(len(state_shapes))] if "partial" in loop_state else None
        return loop_state, best, states

