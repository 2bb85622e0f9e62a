import numpy as np
import pytest

from charlm.batching import consecutive_windows, epoch_offsets, windows_per_epoch
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


def targets_read(n_chars, batch_size, num_steps, epochs, seed):
    """How often each character of a train part of `n_chars` is a target over `epochs` epochs."""
    seen = np.zeros(n_chars, dtype=int)
    for offset in epoch_offsets(n_chars, batch_size, num_steps, epochs, seed):
        _, targets = consecutive_windows(np.arange(n_chars), batch_size, num_steps, offset)
        np.add.at(seen, targets.ravel(), 1)
    return seen


@pytest.mark.parametrize("n_chars, batch_size, num_steps, seed", [
    (56954, 32, 35, 0),     # the default run's train part and params
    (56954, 32, 35, None),  # train.random_offset: false
    (1000, 4, 8, 3),
    (19, 2, 5, 1),          # one window per stream: a gap of 9 beside 10 characters read
])
def test_every_character_is_a_target_within_two_epochs(n_chars, batch_size, num_steps, seed):
    assert targets_read(n_chars, batch_size, num_steps, 2, seed).min() >= 1


def test_the_characters_an_epoch_leaves_out_move_through_the_text():
    # Over many epochs each character is left out about as often as any other: no part of the
    # train part (its end, say) is trained on less.
    seen = targets_read(56954, 32, 35, 40, seed=0)
    assert seen.min() >= 36 and seen.max() <= 40


def test_offsets_are_seeded_and_the_first_is_within_a_window():
    offsets = epoch_offsets(56954, 32, 35, 5, seed=0)
    assert offsets == epoch_offsets(56954, 32, 35, 5, seed=0) != epoch_offsets(56954, 32, 35, 5, seed=1)
    assert 0 <= offsets[0] < 35
    assert epoch_offsets(56954, 32, 35, 3, seed=None)[0] == 0


def test_the_circle_wraps_from_the_end_to_the_start():
    inputs, targets = consecutive_windows(np.arange(30), 2, 3, offset=20)
    stream = inputs[:, 0].ravel().tolist()
    assert stream == [20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 0, 1]
    assert targets[:, 0].ravel().tolist() == stream[1:] + [2]


def test_an_epoch_read_in_parts_is_the_whole_epoch_cut():
    ids = np.arange(1000) % 251
    for offset in (0, 7, 990):  # the last wraps round the end of the circle
        inputs, targets = consecutive_windows(ids, 4, 5, offset)
        bounds = [0, 3, 10, len(inputs)]
        parts = [consecutive_windows(ids, 4, 5, offset, first, last) for first, last in zip(bounds, bounds[1:])]
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), inputs)
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), targets)
        assert all(p[0].dtype == np.int32 for p in parts)
