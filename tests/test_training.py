import numpy as np
import pytest

from charlm.errors import UserError
from charlm.model import ModelConfig, build_model, get_weights
from charlm.params import TrainParams
from charlm.generation import Generator
from charlm.tf_runtime import make_deterministic
from charlm.training import train, train_perplexity
from charlm.vocab import build_vocabulary, share_unk
from conftest import VERSE, tiny_params


def train_params(**overrides) -> TrainParams:
    values = tiny_params()["train"]
    values.update(overrides)
    return TrainParams(**values)


def fit(text, valid_text="", checkpoint=None, on_epoch=lambda *a: None, on_progress=lambda *a: None, **overrides):
    p = train_params(**overrides)
    vocab = build_vocabulary(text)
    make_deterministic(p.seed)
    model = build_model(ModelConfig.for_training(p, vocab))
    result = train(model, vocab.encode(text), vocab.encode(valid_text), p, vocab.unk_share, on_epoch=on_epoch,
                   checkpoint=checkpoint, on_progress=on_progress)
    return model, vocab, result


def test_small_book_protocol_converges_and_continues_the_lyrics():
    # The book's set-up in miniature: one-hot input, GRU, Adam, clipping, consecutive windows,
    # all text for training. A repeated verse must be learnt almost perfectly.
    text = VERSE * 12
    model, vocab, result = fit(text, input="one_hot", hidden_size=64, num_steps=16, batch_size=8, epochs=40,
                               lr=0.01, random_offset=False)
    assert result.history[0]["train_perplexity"] > 20
    assert result.best["train_perplexity"] < 1.3
    assert result.best_epoch == 40  # no validation part: the last epoch is kept
    (continuation,) = Generator(model, vocab).continue_text("分开", 20)
    assert continuation in (VERSE * 3)  # greedy decoding replays the memorised verse


def test_the_best_validation_epoch_is_kept_lr_decays_without_a_better_one_and_patience_stops_early():
    text, valid = VERSE * 6, "完全陌生的字符串" * 8  # valid perplexity can only get worse as training fits VERSE
    model, _, result = fit(text, valid, hidden_size=32, epochs=30, lr=0.02, lr_decay=0.5, patience=3)
    valids = [r["valid_perplexity"] for r in result.history]
    assert result.best_epoch == int(np.argmin(valids)) + 1
    assert len(result.history) == result.best_epoch + 3 < 30
    lr, best = 0.02, np.inf
    for row in result.history:
        assert row["lr"] == pytest.approx(lr)
        if row["valid_perplexity"] < best:
            best = row["valid_perplexity"]
        else:  # no improvement: the next epoch runs at half the rate
            lr /= 2
    assert result.history[-1]["lr"] < 0.02
    for kept, current in zip(result.best_weights, get_weights(model)):
        assert kept.shape == current.shape


# One run that the resuming tests compare with (7 windows an epoch); its
# checkpoint is that of a finished run.
SHARED = dict(epochs=2, dropout=0.2, hidden_size=16)


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    from charlm.checkpoint import Checkpoint

    folder = tmp_path_factory.mktemp("whole")
    return fit(VERSE * 4, VERSE * 2, checkpoint=Checkpoint(folder, "k"), **SHARED)[2], folder


def test_divergence_stops_with_the_epoch_and_step():
    with pytest.raises(UserError, match=r"training diverged: the loss became nan at epoch 1, step \d+; lower train.lr"):
        fit(VERSE * 4, lr=float("inf"))


def test_divergence_in_the_last_update_of_a_run_is_caught():
    # One window, one epoch: no later loss would show the broken weights.
    with pytest.raises(UserError, match=r"training diverged: the weights became non-finite at epoch 1, step 1;"):
        fit(VERSE[:40], lr=float("inf"), epochs=1, random_offset=False)


class Interrupt(Exception):
    pass


def test_an_interrupted_run_resumes_from_its_checkpoint_to_the_same_weights(whole, tmp_path):
    from charlm.checkpoint import Checkpoint

    uninterrupted, finished = whole

    def stop_at_epoch_2(row, *_):  # called before epoch 2's checkpoint: epoch 1's is kept
        if row["epoch"] == 2:
            raise Interrupt
    checkpoint = Checkpoint(tmp_path, "k")
    with pytest.raises(Interrupt):
        fit(VERSE * 4, VERSE * 2, checkpoint=checkpoint, on_epoch=stop_at_epoch_2, **SHARED)
    _, _, resumed = fit(VERSE * 4, VERSE * 2, checkpoint=checkpoint, **SHARED)
    assert resumed.chars_trained < uninterrupted.chars_trained  # epoch 1 was not trained again
    # Epoch 1 came from the interrupted run, a training of its own from the same seed: the same
    # figures and, with the resumed epoch 2, the same weights (same seed, same weights).
    assert resumed.history == uninterrupted.history
    for a, b in zip(resumed.best_weights, uninterrupted.best_weights, strict=True):
        np.testing.assert_array_equal(a, b)
    # A finished run, or one with other params, never resumes.
    assert Checkpoint(finished, "k").restore(*_model_and_optimizer(SHARED)) is None
    assert Checkpoint(tmp_path, "other").restore(*_model_and_optimizer(SHARED)) is None


def test_an_epoch_in_parts_trains_as_one_call_and_a_kill_mid_epoch_resumes_to_the_same_weights(whole, tmp_path):
    from charlm.checkpoint import Checkpoint

    whole = whole[0]
    seen = []

    def stop_in_epoch_2(*line):  # after the checkpoint at window 4 of epoch 2
        seen.append(line[:4])
        if line[0] == 2:
            raise Interrupt
    checkpoint = Checkpoint(tmp_path, "k")
    with pytest.raises(Interrupt):
        fit(VERSE * 4, VERSE * 2, checkpoint=checkpoint, checkpoint_windows=4, on_progress=stop_in_epoch_2, **SHARED)
    assert seen == [(epoch, 2, 4, 7) for epoch in (1, 2)]  # a line after each part but an epoch's last
    _, _, resumed = fit(VERSE * 4, VERSE * 2, checkpoint=checkpoint, checkpoint_windows=4, **SHARED)
    assert resumed.chars_trained == whole.chars_trained - (7 + 4) * 4 * 8  # epoch 1 and 4 windows of epoch 2 not again
    # Every part ran as a call of its own: epoch 1's two in the first run, epoch 2's first before
    # the stop and its second after it; together they give the uninterrupted run's figures and weights.
    assert resumed.history == whole.history
    for a, b in zip(resumed.best_weights, whole.best_weights, strict=True):
        np.testing.assert_array_equal(a, b)


def _model_and_optimizer(settings):
    from charlm.training import make_optimizer

    p = train_params(**settings)
    vocab = build_vocabulary(VERSE * 4)
    model = build_model(ModelConfig.for_training(p, vocab))
    return model, make_optimizer(p)


def test_a_checkpoint_that_does_not_fit_the_model_is_a_warning_and_a_fresh_start(tmp_path, capsys):
    from charlm.checkpoint import Checkpoint

    def stop_at_epoch_2(row, *_):  # epoch 1's checkpoint is written
        if row["epoch"] == 2:
            raise Interrupt
    p = train_params(hidden_size=16, epochs=3)
    vocab = build_vocabulary(VERSE * 4)
    with pytest.raises(Interrupt):
        train(build_model(ModelConfig.for_training(p, vocab)), vocab.encode(VERSE * 4), vocab.encode(""), p,
              vocab.unk_share, on_epoch=stop_at_epoch_2, checkpoint=Checkpoint(tmp_path, "k"))
    model, optimizer = _model_and_optimizer(dict(hidden_size=8, embedding_dim=8))
    before = get_weights(model)
    assert Checkpoint(tmp_path, "k").restore(model, optimizer) is None
    assert "its variables do not fit this model; training starts afresh" in capsys.readouterr().err
    for a, b in zip(before, get_weights(model), strict=True):
        np.testing.assert_array_equal(a, b)  # nothing was assigned


def test_train_perplexity_is_on_the_class_set_with_unk_shared():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 5, size=(6, 4, 8))  # [window, batch, step]; id 0 is <unk>
    log_probs = np.log(rng.uniform(0.05, 1.0, size=targets.shape))
    window_losses = -log_probs.mean(axis=(1, 2))
    expected = np.exp(-np.mean(share_unk(log_probs.ravel(), targets.ravel(), unk_share=7)))
    unk_fraction = float(np.mean(targets == 0))
    assert train_perplexity(window_losses, unk_fraction, unk_share=7) == pytest.approx(expected, rel=1e-12)
    assert train_perplexity(window_losses, unk_fraction, unk_share=1) == pytest.approx(np.exp(window_losses.mean()))


def test_a_train_part_too_short_for_one_window_fails_before_the_first_epoch():
    # 4 streams x 8 steps need 33 characters, whatever the offset (the part is read as a circle).
    trained = []
    with pytest.raises(UserError, match=r"the train part \(32 characters\) is too short: .* need 33 characters"):
        fit((VERSE * 2)[:32], on_epoch=lambda row, *_: trained.append(row), epochs=50)
    assert trained == []
    assert fit((VERSE * 2)[:33], epochs=2)[2].best_epoch >= 1


def test_the_books_sgd_converges_in_miniature():
    _, _, result = fit(VERSE * 12, input="one_hot", hidden_size=64, num_steps=16, batch_size=8, epochs=40,
                       optimizer="sgd", lr=100.0, clip_norm=0.01, random_offset=False)
    assert result.history[0]["train_perplexity"] > 20
    assert result.best["train_perplexity"] < 2
