import numpy as np
import pytest

from charlm.batching import consecutive_windows, windows_per_epoch
from charlm.errors import UserError


def test_windows_continue_each_stream_and_targets_shift_by_one():
    ids = np.arange(30)
    inputs, targets = consecutive_windows(ids, batch_size=2, num_steps=3)
    assert inputs.shape == targets.shape == (4, 2, 3) == (windows_per_epoch(30, 2, 3), 2, 3)
    # stream 0 is ids 0..11, stream 1 is ids 12..23, each read window after window
    assert inputs[:, 0].ravel().tolist() == list(range(0, 12))
    assert inputs[:, 1].ravel().tolist() == list(range(12, 24))
    np.testing.assert_array_equal(targets, inputs + 1)


def test_offset_shifts_the_start():
    inputs, targets = consecutive_windows(np.arange(30), 2, 3, offset=2)
    assert inputs[0, 0].tolist() == [2, 3, 4]
    np.testing.assert_array_equal(targets, inputs + 1)


def test_too_short_for_one_window_is_a_user_error():
    with pytest.raises(UserError, match="too short for one window of train.num_steps=35"):
        consecutive_windows(np.arange(100), 32, 35)
