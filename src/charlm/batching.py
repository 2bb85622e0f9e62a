"""Consecutive sampling, as the book does: parallel streams cut into windows of `num_steps`.

The text is split into `batch_size` contiguous streams laid side by side; window k of every
stream follows window k-1 of the same stream, so the hidden state can be carried across windows.

An epoch's streams fill `batch_size * num_steps * windows` characters, which leaves a gap of up
to `batch_size * num_steps` characters unread. The train part is read as a circle from each
epoch's offset, and each epoch's targets begin where the previous epoch's ended (or a few
characters before), so the characters one epoch leaves out are read by the next: over any two
epochs every character is a target (the gap is never longer than what an epoch reads). A start
drawn from 0..num_steps-1 alone, as the book does, would leave the last characters of the train
part out of every epoch.
"""

import numpy as np

from charlm.errors import UserError


def windows_per_epoch(n_chars: int, batch_size: int, num_steps: int) -> int:
    return ((n_chars - 1) // batch_size) // num_steps


def epoch_offsets(n_chars: int, batch_size: int, num_steps: int, epochs: int, seed: int | None) -> list[int]:
    """Where each epoch 1..epochs starts reading the circular train part.

    Epoch e + 1 starts where epoch e's reading ended, less a phase, so its targets continue
    epoch e's (overlapping by the phase); the phase (0..num_steps-1, drawn from `seed` and the
    epoch; 0 without a seed) moves the window boundaries, as the book's random offset does. It is
    capped so that two epochs still read the whole circle.
    """
    usable = batch_size * num_steps * windows_per_epoch(n_chars, batch_size, num_steps)
    gap = n_chars - usable
    offsets, offset = [], 0
    for epoch in range(1, epochs + 1):
        phase = 0
        if seed is not None:
            phase = int(np.random.default_rng([seed, epoch]).integers(min(num_steps, usable - gap + 1)))
        offset = (phase if epoch == 1 else offset + usable - phase) % n_chars
        offsets.append(offset)
    return offsets


def consecutive_windows(ids: np.ndarray, batch_size: int, num_steps: int, offset: int = 0,
                        first: int = 0, last: int | None = None):
    """Return inputs and targets of shape [windows, batch_size, num_steps], reading `ids` as a
    circle that starts at `offset`: windows first..last-1 of the epoch (all of them by default).

    Targets are the inputs shifted by one character. The characters that do not fill a whole
    window at the end of the circle are left out of this epoch (`epoch_offsets` moves them on).
    Only the windows asked for are copied, so an epoch read in parts never holds a copy of the
    whole train part.
    """
    ids = np.asarray(ids)
    n_windows = windows_per_epoch(len(ids), batch_size, num_steps)
    if n_windows < 1:
        raise UserError(f"the train part ({len(ids)} characters) is too short for one window of "
                        f"train.num_steps={num_steps} in each of train.batch_size={batch_size} streams; "
                        f"lower them or use more text")
    last = n_windows if last is None else last
    n, stream_len, span = len(ids), n_windows * num_steps, (last - first) * num_steps
    # Stream s is characters s * stream_len onwards of the circle; each reads span + 1 of them
    # (the targets' one more), wrapping round the end at most once.
    chars = np.empty((batch_size, span + 1), np.int32)
    for stream in range(batch_size):
        begin = (offset + stream * stream_len + first * num_steps) % n
        head = min(span + 1, n - begin)
        chars[stream, :head] = ids[begin:begin + head]
        chars[stream, head:] = ids[:span + 1 - head]
    inputs = chars[:, :-1].reshape(batch_size, last - first, num_steps)
    targets = chars[:, 1:].reshape(batch_size, last - first, num_steps)
    # [batch, window, step] -> [window, batch, step]
    return np.ascontiguousarray(inputs.transpose(1, 0, 2)), np.ascontiguousarray(targets.transpose(1, 0, 2))
