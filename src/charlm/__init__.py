"""Character-level RNN language model on the Jay Chou lyrics corpus, as a DVC pipeline.

Modules that need TensorFlow (model, training, evaluation, generation) import it themselves;
importing the package, or the corpus, vocabulary and params modules, never does.
"""
