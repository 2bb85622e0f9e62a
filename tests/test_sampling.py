from charlm.model import ModelConfig, build_model
from charlm.sampling import Sampling, TextGenerator
from charlm.tf_runtime import make_deterministic
from charlm.vocab import UNK, build_vocabulary


def generator():
    make_deterministic(3)
    vocab = build_vocabulary("分开不我的爱你想要")
    return TextGenerator(build_model(ModelConfig(vocab.size, "embedding", 8, "gru", 16, 1, 0.0, 0.0, False, "x")), vocab)


def test_greedy_is_deterministic_and_never_emits_unk():
    gen = generator()
    text = gen.continue_text("分开", 30)
    assert text.startswith("分开") and len(text) == 32 and UNK not in text
    assert gen.continue_text("分开", 30) == text


def test_sampling_is_reproducible_from_its_seed():
    gen = generator()
    a = gen.continue_text("分开", 40, Sampling(temperature=1.0, top_k=0, seed=7))
    assert a == gen.continue_text("分开", 40, Sampling(temperature=1.0, top_k=0, seed=7))
    assert a != gen.continue_text("分开", 40, Sampling(temperature=1.0, top_k=0, seed=8))
    assert UNK not in a


def test_top_k_of_one_is_greedy():
    gen = generator()
    assert gen.continue_text("不", 20, Sampling(temperature=0.5, top_k=1, seed=1)) == gen.continue_text("不", 20)


def test_unknown_prefix_characters_are_read_as_unk():
    gen = generator()
    assert gen.unknown_characters("分开吗呢") == ["吗", "呢"]
    assert gen.continue_text("吗呢", 5).startswith("吗呢")
