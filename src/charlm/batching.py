"""Consecutive sampling, as the book does: parallel streams cut into windows of `num_steps`.

The text is split into `batch_size` contiguous streams laid side by side; window k of every
stream follows window k-1 of the same stream, so the hidden state can be carried across windows.
"""

import numpy as np

from charlm.errors import UserError


def windows_per_epoch(n_chars: int, batch_size: int, num_steps: int) -> int:
    return ((n_chars - 1) // batch_size) // num_steps


def consecutive_windows(ids: np.ndarray, batch_size: int, num_steps: int, offset: int = 0):
    """Return inputs and targets of shape [windows, batch_size, num_steps] starting at `offset`.

    Targets are the inputs shifted by one character. Characters that do not fill a whole
    window at the end of a stream are left out of this epoch (a random offset varies which).
    """
    ids = np.asarray(ids, dtype=np.int32)[offset:]
    n_windows = windows_per_epoch(len(ids), batch_size, num_steps)
    if n_windows < 1:
        raise UserError(f"the train part ({len(ids)} characters) is too short for one window of "
                        f"train.num_steps={num_steps} in each of train.batch_size={batch_size} streams; "
                        f"lower them or use more text")
    stream_len = n_windows * num_steps
    usable = batch_size * stream_len
    inputs = ids[:usable].reshape(batch_size, n_windows, num_steps)
    targets = ids[1:usable + 1].reshape(batch_size, n_windows, num_steps)  # (n - 1) above leaves room
    # [batch, window, step] -> [window, batch, step]
    return np.ascontiguousarray(inputs.transpose(1, 0, 2)), np.ascontiguousarray(targets.transpose(1, 0, 2))
