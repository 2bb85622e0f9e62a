import numpy as np
import pytest

from charlm.errors import UserError
from charlm.vocab import UNK, UNK_ID, Vocabulary, build_vocabulary, oov_rate, split_corpus


def test_split_is_contiguous_and_follows_the_fractions():
    text = "".join(chr(0x4E00 + i) for i in range(100))
    splits = split_corpus(text, 0.1, 0.05)
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (85, 10, 5)
    assert splits.train + splits.valid + splits.test == text
    assert split_corpus(text, 0.0, 0.0).train == text


def test_split_leaving_no_training_text_is_an_error():
    with pytest.raises(UserError, match="leaves 1 characters for training"):
        split_corpus("abcdefghij", 0.5, 0.4)


def test_vocabulary_is_sorted_from_train_only_with_unk_first():
    vocab = build_vocabulary("不分开分开我")
    assert vocab.tokens == (UNK, *sorted("不分开我"))
    assert vocab.tokens[UNK_ID] == UNK
    assert list(vocab.encode("分开你")) == [vocab.tokens.index("分"), vocab.tokens.index("开"), UNK_ID]
    assert vocab.decode(vocab.encode("分开我")) == "分开我"


def test_rare_characters_fold_into_unk_but_stay_in_the_class_set():
    vocab = build_vocabulary("aaabbc", min_count=2)
    assert vocab.tokens == (UNK, "a", "b") and vocab.folded == ("c",)
    assert vocab.class_count == 4  # a, b, c and the unseen class
    assert vocab.unk_share == 2    # c and the unseen class share <unk>'s probability


def test_min_count_above_every_count_is_an_error():
    with pytest.raises(UserError, match=r"vocab.min_count=4 folds every character into <unk> \(the most frequent "
                                        r"train character occurs 3 times\)"):
        build_vocabulary("aaabbc", min_count=4)


def test_oov_rate_and_round_trip_through_json():
    vocab = build_vocabulary("abcd")
    assert oov_rate(vocab, "abxy") == 0.5
    assert oov_rate(vocab, "") == 0.0
    again = Vocabulary.from_json(vocab.to_json())
    assert again == vocab and again.fingerprint() == vocab.fingerprint()
    assert build_vocabulary("abce").fingerprint() != vocab.fingerprint()
    assert vocab.encode("ab").dtype == np.int32


def test_class_vocabulary_unfolds_rare_characters():
    vocab = build_vocabulary("aaabbc", min_count=2)
    classes = vocab.class_vocabulary()
    assert classes.tokens == (UNK, "a", "b", "c") and classes.folded == ()
    assert classes.size == vocab.class_count
    assert list(classes.encode("cax")) == [3, 1, UNK_ID]
