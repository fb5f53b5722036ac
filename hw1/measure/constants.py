"""The chunk sizes of hw1's full-set reductions and the grid limit of its surfaces, in one TensorFlow-free module
(the lab's CLI sizes memory and refuses settings from them before anything imports TensorFlow).

Read them at call time (``constants.EVAL_CHUNK``), never as a default argument: a default is captured once, when
its module is imported, and a change here (or a test's monkeypatch) would not reach it.
"""

EVAL_CHUNK = 8192  # samples per forward pass when evaluating full sets (batch_size= of the public functions)
RUN_CHUNK = 16  # parameter vectors per batched call: vectorized_map holds every run's activations at once
GRID_CHUNK = 128  # grid (or interpolation) points per batched evaluation: chunk × parameters weights at a time
JACOBIAN_CHUNK = 256  # samples per batch_jacobian call of the sensitivity: (chunk, classes, *input_shape) floats
MAX_GRID_POINTS = 10_000  # loss_surface points ** dims, interpolate's alphas (one full-data pass each)
