"""The trained model as a TensorFlow SavedModel that needs neither `charlm` nor the vocabulary file.

Its signatures, over the one compiled loop of charlm.generation:

- `serving_default` (also `continue`): prefix (UTF-8 string), length, temperature (0: greedy),
  top_k (0: all), seed -> `text`, the prefix followed by `length` generated characters (what
  `charlm generate` prints for the same settings), and `continuation`, the generated characters alone.
- `sample`: the same inputs and outputs, and the sampling controls top_p (1: off), min_p (0: off),
  repetition_penalty (1: off) and repetition_window (0: off); with them off, `continue`'s text.
- `next_character`: prefix -> `probabilities` of every vocabulary token after it (`<unk>`'s is 0,
  as generation never emits it) and the `tokens` themselves.

Strings become ids inside the graph: the prefix is split into characters and looked up in a table
of the vocabulary, a character outside it reading as `<unk>`, as `Vocabulary.encode` does.
"""

import errno
import os
import re
from pathlib import Path

from charlm.generation import CONTROLS_SIGNATURE, SIGNATURE, continuation_ids, next_character_probabilities
from charlm.io import atomic_folder, cannot_write
from charlm.tf_runtime import graph_function, tf
from charlm.vocab import UNK_ID, Vocabulary

PREFIX = tf.TensorSpec([], tf.string, name="prefix")
# The continuation loop's own inputs, but one prefix string instead of ids, and one sample.
CONTINUE_SIGNATURE = (PREFIX, *(spec for spec in SIGNATURE if spec.name not in ("prefix_ids", "num_samples")))
SAMPLE_SIGNATURE = CONTINUE_SIGNATURE + CONTROLS_SIGNATURE


class ExportedModel(tf.Module):
    def __init__(self, model, vocab: Vocabulary):
        super().__init__(name="char_rnn_export")
        # The weights are tracked here, not the Keras model, which would add a serving function of
        # its own (over ids and states) that cannot be traced without arguments. Weights only: the
        # dropout layer's seed state, drawn at random when the model is loaded, is never read at
        # inference and would make every export's bytes differ.
        self.model_weights = [v.value for v in model.weights]
        self._call_model = lambda function, *args: function(model, *args)
        self.tokens = tf.constant(vocab.tokens)
        self.ids = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(self.tokens, tf.range(vocab.size, dtype=tf.int32)), default_value=UNK_ID)
        self.continue_text = graph_function(self._continue_text, input_signature=CONTINUE_SIGNATURE)
        self.sample = graph_function(self._continue_text, input_signature=SAMPLE_SIGNATURE)
        self.next_character = graph_function(self._next_character, input_signature=(PREFIX,))

    def _prefix_ids(self, prefix):
        # charlm.generation checks the prefix's length (1 to 1,000 characters), as it does length,
        # temperature, top_k and the controls: a call outside those ranges fails with an InvalidArgumentError.
        return self.ids.lookup(tf.strings.unicode_split(prefix, "UTF-8"))

    def _continue_text(self, prefix, length, temperature, top_k, seed, *controls):
        # `continue` passes no controls: continuation_ids's defaults turn each off.
        ids = self._call_model(continuation_ids, self._prefix_ids(prefix), length, temperature, top_k, seed,
                               tf.constant(1), *controls)
        continuation = tf.strings.reduce_join(tf.gather(self.tokens, ids[0]))
        return {"text": tf.strings.join([prefix, continuation]), "continuation": continuation}

    def _next_character(self, prefix):
        return {"probabilities": self._call_model(next_character_probabilities, self._prefix_ids(prefix)),
                "tokens": self.tokens}


def export_model(model, vocab: Vocabulary, folder: str | Path) -> list[str]:
    """Write the SavedModel into `folder`, replacing it as a whole; return its signatures' names."""
    exported = ExportedModel(model, vocab)
    signatures = {"serving_default": exported.continue_text, "continue": exported.continue_text,
                  "sample": exported.sample, "next_character": exported.next_character}
    with atomic_folder(folder) as tmp:
        try:
            tf.saved_model.save(exported, str(tmp), signatures=signatures)
        except tf.errors.OpError as error:
            failure = _file_error(error)
            if failure is None:
                raise
            raise cannot_write(folder, *failure) from None
        _clear_fingerprint_uuid(Path(tmp) / "fingerprint.pb")
    return list(signatures)


# TensorFlow's file writers report a failed write (a full disk, a file-size limit, a folder that
# cannot be written) as an OpError whose message ends in "<file>; <the system's words>".
_ERRNO_BY_WORDS = {os.strerror(number): number for number in errno.errorcode}


def _file_error(error) -> tuple[str, int] | None:
    """The system's words and error number of a file error inside a TensorFlow error, if it is one."""
    message = re.sub(r"\s*\[Op:\w+\]$", "", error.message.strip())
    words = message.rpartition("; ")[2]
    return (words, _ERRNO_BY_WORDS[words]) if words in _ERRNO_BY_WORDS else None


def _clear_fingerprint_uuid(path: Path) -> None:
    """fingerprint.pb holds hashes of the SavedModel's content and a random id drawn at each save,
    the one thing that differs between two exports of the same model; clearing it leaves equal
    models with equal bytes (the loader reads the hashes only)."""
    from tensorflow.core.protobuf.fingerprint_pb2 import FingerprintDef

    fingerprint = FingerprintDef.FromString(path.read_bytes())
    fingerprint.ClearField("uuid")
    path.write_bytes(fingerprint.SerializeToString(deterministic=True))
