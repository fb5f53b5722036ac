"""Profile: where a CNN probe's cost goes (issue 21; what bounds a Hessian-vector product at ≥ 2 gradients).

Protocol: the CNN of ``bench_peers.py`` (logits, trained 3 epochs, batch 64, Adam 1e-3) on the
4,000 bundled images, float32, one chunk. The compiled graphs of ``hw1.curvature`` (a full-set
gradient, and an 8-probe ``c.matmat`` block) are run in a TF1 session with full tracing (step
stats), after two untraced runs; each op type's summed run time (start to end, so ops that run
at once both count) and its share of the graph's total are written, with the wall time of the
traced run. Beside them, on the first pooling layer's input shape (4000, 26, 26, 8): MaxPool,
MaxPoolGradGrad and a ReLU of the same tensor, medians of 5 interleaved runs. The 1-minute load
average is written too. Run: ``python benchmarks/profile_block.py``; writes
``benchmarks/results_block_profile.csv`` (what, op, ms, share).
"""

import collections
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402

PROBES = 8


def op_times(function, args) -> tuple[dict, float]:
    """{op type: ms} of one fully traced run of a concrete function's graph, and that run's wall time."""
    import tensorflow as tf
    from tensorflow.core.protobuf import config_pb2

    inputs = tf.nest.flatten(args) + list(function.captured_inputs)
    feed = {placeholder.name: np.asarray(value) for placeholder, value in zip(function.inputs, inputs)}
    outputs = [output.name for output in function.outputs]
    with tf.compat.v1.Session(graph=function.graph) as session:
        for _ in range(2):
            session.run(outputs, feed)
        metadata = config_pb2.RunMetadata()
        start = time.perf_counter()
        session.run(outputs, feed, run_metadata=metadata,
                    options=config_pb2.RunOptions(trace_level=config_pb2.RunOptions.FULL_TRACE))
        wall = time.perf_counter() - start
    times = collections.Counter()
    for device in metadata.step_stats.dev_stats:
        for node in device.node_stats:
            label = node.timeline_label
            op = label.split("=")[-1].split("(")[0].strip() if "=" in label else node.node_name
            times[op] += node.all_end_rel_micros / 1e3
    return dict(times), wall


def main() -> None:
    import keras
    import pandas as pd
    import tensorflow as tf
    from tensorflow.python.ops import gen_nn_ops

    import hw1
    from bench_peers import keras_net
    from hw1.lab import data
    mnist = data.load("mnist_bundled")
    x, y = mnist.x_train, mnist.y_train
    keras.utils.set_random_seed(0)
    model = keras_net("cnn")
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=3, batch_size=64, verbose=0)
    c = hw1.curvature(model, (x, y))
    chunk_x, chunk_y = next(iter(c._chunks()))
    V = tf.constant(np.random.default_rng(0).choice([-1.0, 1.0], size=(PROBES, c.n)), c.dtype)
    rows = [{"what": "load", "op": "1-minute load average (2 cores), before", "ms": os.getloadavg()[0], "share": ""}]
    graphs = {"gradient": (c._graphs.compiled_gradient, [c._theta, c._rest, chunk_x, chunk_y]),
              f"{PROBES}-probe block": (c._graphs.compiled_block_product(PROBES),
                                        [c._theta, V, c._rest, chunk_x, chunk_y])}
    for name, (compiled, args) in graphs.items():
        times, wall = op_times(compiled.get_concrete_function(), args)
        total = sum(times.values())
        rows.append({"what": name, "op": "wall time of the traced run", "ms": wall * 1e3, "share": ""})
        for op, ms in sorted(times.items(), key=lambda item: -item[1]):
            if ms >= 0.005 * total:
                rows.append({"what": name, "op": op, "ms": ms, "share": ms / total})
    pool_in = tf.constant(np.random.default_rng(1).standard_normal((4000, 26, 26, 8)), tf.float32)
    pooled = tf.nn.max_pool2d(pool_in, 2, 2, "VALID")
    kernels = {"MaxPool": tf.function(lambda: tf.nn.max_pool2d(pool_in, 2, 2, "VALID")),
               "MaxPoolGradGrad": tf.function(lambda: gen_nn_ops.max_pool_grad_grad(
                   pool_in, pooled, pool_in, [1, 2, 2, 1], [1, 2, 2, 1], "VALID")),
               "Relu": tf.function(lambda: tf.nn.relu(pool_in))}
    seconds = {name: [] for name in kernels}
    for fn in kernels.values():
        fn()
    for _ in range(5):
        for name, fn in kernels.items():
            start = time.perf_counter()
            fn().numpy()
            seconds[name].append(time.perf_counter() - start)
    for name in kernels:
        rows.append({"what": "one op on (4000, 26, 26, 8)", "op": name, "ms": statistics.median(seconds[name]) * 1e3,
                     "share": ""})
    rows.append({"what": "load", "op": "1-minute load average (2 cores), after", "ms": os.getloadavg()[0], "share": ""})
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    table.to_csv(ROOT / "benchmarks" / "results_block_profile.csv", index=False)
    print("wrote", ROOT / "benchmarks" / "results_block_profile.csv")


if __name__ == "__main__":
    main()
