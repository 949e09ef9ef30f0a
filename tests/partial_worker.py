"""A cluster worker that dies mid-push, as seen from the ps: run as worker 1 of TF_CONFIG
(`python tests/partial_worker.py`), it puts in its part of the first variable's gradient
only, waits until the chief has taken that part, and then watches the weights for
WATCH_SECS. It prints "changed: NAME, ..." if the chief updated any of them while the
other parts of the step were still missing, else "unchanged"."""

import os
import time

import numpy as np
import tensorflow as tf

from draw_color import cluster
from draw_color import runs
from fakes import TINY_RUN

tf1 = tf.compat.v1
WATCH_SECS = 3.0  # after the chief took the part: Adam's update of one variable takes ms
TAKEN_SECS = 120.0  # how long the chief may take to reach its first step


def main():
  task = cluster.parse(os.environ["TF_CONFIG"], timeout=TAKEN_SECS)
  server = cluster.start_server(task)
  with tf.Graph().as_default():
    with tf1.device(cluster.device_setter(task)):
      graph = runs.build_graph(TINY_RUN, seed=1, cluster=task)
    push = next(op for op in tf1.get_default_graph().get_operations()
                if op.type == "ResourceAccumulatorApplyGradient")
    handle = push.inputs[0]
    with tf1.device(handle.device):
      waiting = tf.raw_ops.ResourceAccumulatorNumAccumulated(handle=handle)
    variables = tf1.trainable_variables()
    with tf1.Session(server.target, config=cluster.session_config(task)) as sess:
      cluster.connect(sess, graph.sync, task)
      before = sess.run(variables)
      # Step 0's part of 1 image of a whole batch of 3, as the training flags cut it.
      size = TINY_RUN.image_size
      sess.run(push, {graph.images: np.full([1, size, size, TINY_RUN.channels], 0.5, np.float32),
                      graph.sync.whole_batch: 3, graph.sync.step: 0})
      deadline = time.time() + TAKEN_SECS
      while sess.run(waiting):
        if time.time() > deadline:
          raise SystemExit("the chief did not take the part in %g s" % TAKEN_SECS)
        time.sleep(0.05)
      time.sleep(WATCH_SECS)
      after = sess.run(variables)
  changed = [v.op.name for v, a, b in zip(variables, before, after) if not np.array_equal(a, b)]
  print("changed: " + ", ".join(changed) if changed else "unchanged", flush=True)


if __name__ == "__main__":
  main()
