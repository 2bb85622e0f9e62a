"""Speed benchmarks (not tests): training and generation throughput, and the wall time of each stage.

Run with `make bench`. Prints a table and writes benchmarks/results.json. Figures are medians over
several epochs after a warm-up; the reference loop (the book's notebook: eager, one GradientTape
per batch, one-hot input) runs in the same process, so the ratios compare like with like.
"""

import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from charlm import params
from charlm.batching import consecutive_windows
from charlm.corpus import normalize, read_corpus
from charlm.io import write_json
from charlm.vocab import build_vocabulary, split_corpus

ROOT = Path(__file__).resolve().parents[1]

EPOCHS = 6             # the first is warm-up (tracing and compiling)
REFERENCE_EPOCHS = 3   # the eager loop is slow; its first epoch is warm-up too
GENERATE_LENGTH = 500
GENERATE_ROUNDS = 4    # the first is warm-up (tracing and compiling)
PRECISION_EPOCHS = 4   # default config, fp32 then bf16; the first epoch is warm-up
RESULTS = ROOT / "benchmarks" / "results.json"


def book_corpus():
    text = normalize(read_corpus(ROOT / "data/jaychou_lyrics.txt.zip", "jaychou_lyrics.txt"), True, 10_000)
    vocab = build_vocabulary(text)
    return vocab, vocab.encode(text)


def ours(vocab, ids, p, valid_ids=None):
    """Median chars/s of the project's own training loop, epochs after the first; the model; the history."""
    from charlm.model import ModelConfig, build_model
    from charlm.tf_runtime import make_deterministic
    from charlm.training import train

    make_deterministic(p.seed)
    model = build_model(ModelConfig.for_training(p, vocab))
    speeds = []
    result = train(model, ids, np.zeros(0, np.int32) if valid_ids is None else valid_ids, p, vocab.unk_share,
                   on_epoch=lambda row, epochs, seconds, chars_per_second: speeds.append(chars_per_second))
    return statistics.median(speeds[1:]), model, result.history


def reference(vocab, ids, p):
    """The book's TensorFlow notebook loop (`train_epoch_ch8`), ported to Keras 3: eager, one
    persistent GradientTape per batch, one-hot input fed time-major (transposed back for
    `keras.layers.GRU`, which lost `time_major`), gradient clipping computed in Python from norms
    read back with `.numpy()`, Adam, and the loss read back for its running metric."""
    from charlm.tf_runtime import keras, tf

    gru = keras.layers.GRU(p.hidden_size, return_sequences=True, return_state=True)
    dense = keras.layers.Dense(vocab.size)
    optimizer = keras.optimizers.Adam(p.lr)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    inputs, targets = consecutive_windows(ids, p.batch_size, p.num_steps)
    speeds = []
    for _ in range(REFERENCE_EPOCHS):
        state = tf.zeros((p.batch_size, p.hidden_size))
        start = time.perf_counter()
        loss_sum = 0.0
        for x, y in zip(inputs, targets):
            with tf.GradientTape(persistent=True) as tape:
                one_hot = tf.one_hot(tf.transpose(x), vocab.size)
                out, state = gru(tf.transpose(one_hot, (1, 0, 2)), initial_state=state)
                logits = dense(tf.reshape(tf.transpose(out, (1, 0, 2)), (-1, p.hidden_size)))
                loss = loss_fn(tf.reshape(tf.transpose(y), (-1,)), logits)
            variables = gru.trainable_variables + dense.trainable_variables
            gradients = tape.gradient(loss, variables)
            norm = float(np.sqrt(sum(tf.reduce_sum(g ** 2).numpy() for g in gradients)))
            if norm > p.clip_norm:
                gradients = [g * p.clip_norm / norm for g in gradients]
            optimizer.apply_gradients(zip(gradients, variables))
            loss_sum += float(loss) * y.size
        speeds.append(inputs.size / (time.perf_counter() - start))
    return statistics.median(speeds[1:])


GENERATION_CASES = {  # name: (temperature, top_k, number of continuations)
    "greedy": (0.0, 0, 1),
    "sampled": (0.8, 10, 1),
    "sampled_batch_64": (0.8, 10, 64),
}


def generation(model, vocab):
    """Median chars/s of continuations of 分开 in one compiled call, the character loop in graph
    mode and under XLA (the default), alternating."""
    from charlm.generation import Generator

    generators = {"graph": Generator(model, vocab, jit_compile=False), "xla": Generator(model, vocab)}
    cases = [(mode, name) for mode in generators for name in GENERATION_CASES]
    runs = {case: [] for case in cases}
    for round in range(GENERATE_ROUNDS):
        for mode, name in cases:
            temperature, top_k, samples = GENERATION_CASES[name]
            start = time.perf_counter()
            generators[mode].continue_text("分开", GENERATE_LENGTH, temperature, top_k, 0, samples)
            if round:
                runs[(mode, name)].append(GENERATE_LENGTH * samples / (time.perf_counter() - start))
    return {f"{name}{'' if mode == 'graph' else '_xla'}": statistics.median(speeds)
            for (mode, name), speeds in runs.items()}


def precision(vocab, train_ids, valid_ids, p):
    """The default config trained in fp32 and in bf16 mixed precision (Keras's `mixed_bfloat16`:
    products in bf16, weights, loss and optimizer in fp32): median chars/s after the first epoch
    and the validation perplexity after each epoch."""
    from charlm.tf_runtime import keras

    results = {}
    for policy in ["float32", "mixed_bfloat16"]:
        keras.mixed_precision.set_dtype_policy(policy)
        try:
            speed, _, history = ours(vocab, train_ids, p, valid_ids)
        finally:
            keras.mixed_precision.set_dtype_policy("float32")
        results[policy] = {"chars_per_second": speed, "valid_perplexity": [row["valid_perplexity"] for row in history]}
    return results


def cpu_description():
    """The CPU's model name and the vector extensions that matter here (Linux's /proc/cpuinfo)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return {"model": platform.processor() or "unknown", "extensions": []}
    info = dict(line.split(":", 1) for line in lines if ":" in line)
    info = {key.strip(): value.strip() for key, value in info.items()}
    flags = set(info.get("flags", "").split())
    wanted = ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile"]
    return {"model": info.get("model name", "unknown"), "extensions": [f for f in wanted if f in flags]}


def stage_wall_times():
    """Each stage script run in order on a copy of the project with the default params."""
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        # The stages import the installed `charlm` package (`make setup` installs it in editable mode).
        for name in ["stages", "params.yaml", "data/jaychou_lyrics.txt.zip"]:
            source, target = ROOT / name, Path(tmp) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
        for stage in ["unzip", "vocab", "train", "evaluate", "generate"]:
            start = time.perf_counter()
            subprocess.run([sys.executable, f"stages/{stage}.py"], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[stage] = time.perf_counter() - start
    return times


def main():
    from charlm.params import TrainParams

    vocab, ids = book_corpus()
    book = TrainParams(seed=0, input="one_hot", embedding_dim=256, cell="gru", hidden_size=256, num_layers=1,
                       dropout=0.0, recurrent_dropout=0.0, tie_embeddings=False, num_steps=35, batch_size=32,
                       epochs=EPOCHS, optimizer="adam", lr=0.01, lr_decay=1.0, clip_norm=0.01, weight_decay=0.0,
                       random_offset=False, patience=0, checkpoint_windows=0, distribute="none")
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
               "cpu": cpu_description(),
               "book_vocabulary": vocab.size}
    results["reference_one_hot"] = reference(vocab, ids, book)
    results["ours_one_hot"], _, _ = ours(vocab, ids, book)
    results["ours_embedding"], model, _ = ours(vocab, ids, dataclasses.replace(book, input="embedding"))
    results["one_hot_over_embedding"] = results["ours_one_hot"] / results["ours_embedding"]
    results["ratio_one_hot"] = results["ours_one_hot"] / results["reference_one_hot"]
    results["ratio_embedding"] = results["ours_embedding"] / results["reference_one_hot"]

    results["generate"] = generation(model, vocab)
    default = dataclasses.replace(params.load("train", ROOT / "params.yaml"), epochs=PRECISION_EPOCHS, patience=0)
    split = params.load("vocab", ROOT / "params.yaml")
    parts = split_corpus(normalize(read_corpus(ROOT / "data/jaychou_lyrics.txt.zip", "jaychou_lyrics.txt"), True, None),
                         split.valid_fraction, split.test_fraction)
    full_vocab = build_vocabulary(parts.train, split.min_count)
    results["precision_default"] = precision(full_vocab, full_vocab.encode(parts.train), full_vocab.encode(parts.valid),
                                             default)
    results["ours_default_full_corpus"] = results["precision_default"]["float32"]["chars_per_second"]
    results["bf16_over_fp32"] = (results["precision_default"]["mixed_bfloat16"]["chars_per_second"]
                                 / results["ours_default_full_corpus"])
    results["stage_seconds"] = stage_wall_times()
    results["repro_seconds"] = sum(results["stage_seconds"].values())
    write_json(RESULTS, json.loads(json.dumps(results), parse_float=lambda s: round(float(s), 2)))
    print_table(results)


def print_table(r):
    g, precision = r["generate"], r["precision_default"]
    bf16 = precision["mixed_bfloat16"]
    rows = [
        ("training, book config, reference loop (the notebook's)", f"{r['reference_one_hot']:,.0f} chars/s"),
        ("training, book config, ours, one-hot", f"{r['ours_one_hot']:,.0f} chars/s  ({r['ratio_one_hot']:.1f}x)"),
        ("training, book config, ours, embedding", f"{r['ours_embedding']:,.0f} chars/s  ({r['ratio_embedding']:.1f}x)"),
        ("training, book config, one-hot / embedding", f"{r['one_hot_over_embedding']:.2f}x"),
        ("training, default params, full corpus, fp32", f"{r['ours_default_full_corpus']:,.0f} chars/s"),
        ("training, default params, full corpus, bf16 mixed", f"{bf16['chars_per_second']:,.0f} chars/s  "
                                                              f"({r['bf16_over_fp32']:.2f}x fp32)"),
        (f"validation perplexity after {len(bf16['valid_perplexity'])} epochs, fp32 / bf16",
         f"{precision['float32']['valid_perplexity'][-1]:.2f} / {bf16['valid_perplexity'][-1]:.2f}"),
        *[(f"generation, {GENERATE_LENGTH} chars, {name.replace('_', ' ')}", f"{speed:,.0f} chars/s")
          for name, speed in g.items()],
        *[(f"stage {name} (wall, TensorFlow import included)", f"{s:.1f} s") for name, s in r["stage_seconds"].items()],
        ("whole default pipeline", f"{r['repro_seconds']:.1f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"machine: {r['machine']}")
    print(f"cpu: {r['cpu']['model']}; {' '.join(r['cpu']['extensions']) or 'no AVX2/AVX-512/AMX'}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
