"""Between-graph replication from TF_CONFIG: parameter servers hold the variables, every
worker builds its own graph and trains on its part of each batch, synchronously.

TF_CONFIG is the JSON that TensorFlow's cluster tools (a Kubeflow TFJob among them) give
every task: {"cluster": {"ps": [HOST:PORT, ...], "worker": [...], "chief": [...]},
"task": {"type": "worker", "index": 0}}. `ps` tasks only serve their variables. The
training tasks are the chief (if the cluster has a "chief" job) and then the workers, in
that order; the first of them is the chief, which alone initialises or restores the
variables and writes checkpoints, summaries and pictures.

A step, with K training tasks: each task cuts the step's batch as datasets.part_bounds says,
computes the gradient of K times its part's share of the whole batch's objective
(towers.share) and puts it into one ConditionalAccumulator per variable on the parameter
servers. The chief takes the mean of the K gradients of each variable, which is the
gradient one device computes on the whole batch, and applies it with objectives.adam_step
(clipping and Adam as on one device); then it puts the new step into one token queue per
other task, where each of them waits for it before its next step. A task is thus never more
than one step ahead, and every step has exactly one part from each task: the run equals
one device's on the same batches (the same data order, eps and schedule), up to rounding.
This is TensorFlow's SyncReplicasOptimizer, with tokens per task instead of one shared
queue (from which a fast task could take two) and the clipping after the mean.
"""

import collections
import json

from absl import logging
import tensorflow as tf

from draw_color import fileio
from draw_color import model
from draw_color import objectives
from draw_color import towers

tf1 = tf.compat.v1

TRAINING_JOBS = ("chief", "worker")

Cluster = collections.namedtuple(
    "Cluster",
    [
        "spec",  # {job: [HOST:PORT, ...]} of TF_CONFIG's "cluster".
        "job",  # This task's job: "ps", "chief" or "worker".
        "index",  # This task's index in its job.
    ])

Sync = collections.namedtuple(
    "Sync",
    [
        "whole_batch",  # [] int32 placeholder: the step's images over all tasks.
        "start",  # [] int64: the step training starts after; for the chief, running it
        #           readies the accumulators and lets the others start (after the
        #           variables are initialised or restored); the others wait for it.
    ])


def parse(text):
  """TF_CONFIG's JSON -> a Cluster; UserError naming TF_CONFIG when it is not one."""
  try:
    config = json.loads(text)
    spec = {job: list(hosts) for job, hosts in config["cluster"].items()}
    job, index = config["task"]["type"], int(config["task"]["index"])
  except (ValueError, KeyError, TypeError, AttributeError) as e:
    raise fileio.UserError("TF_CONFIG is not a cluster and task (%s: %s); it must look like "
                           '{"cluster": {"ps": ["host:2222"], "worker": ["host:2223", '
                           '"host:2224"]}, "task": {"type": "worker", "index": 0}}'
                           % (type(e).__name__, e))
  if not spec.get("ps") or not any(spec.get(j) for j in TRAINING_JOBS):
    raise fileio.UserError("TF_CONFIG's cluster needs a ps job and a worker (or chief) job, "
                           "not %s" % ", ".join(sorted(spec)))
  if job not in ("ps",) + TRAINING_JOBS:
    raise fileio.UserError("TF_CONFIG's task type is %s; this trainer runs ps, chief and worker "
                           "tasks" % job)
  if not 0 <= index < len(spec.get(job, [])):
    raise fileio.UserError("TF_CONFIG's task %s %d is not in its cluster (%s)" % (
        job, index, ", ".join("%s: %d" % (j, len(h)) for j, h in sorted(spec.items()))))
  return Cluster(spec=spec, job=job, index=index)


def replicas(cluster):
  """The training tasks as (job, index), the chief first."""
  return [(job, i) for job in TRAINING_JOBS for i in range(len(cluster.spec.get(job, [])))]


def replica(cluster):
  """(this task's position among the training tasks, their number); position 0 is the
  chief."""
  tasks = replicas(cluster)
  return tasks.index((cluster.job, cluster.index)), len(tasks)


def name(cluster):
  """This task as the logs name it, e.g. "worker 1"."""
  return "%s %d" % (cluster.job, cluster.index)


def start_server(cluster):
  """The tf1.train.Server of this task, serving on its TF_CONFIG address."""
  return tf1.train.Server(tf.train.ClusterSpec(cluster.spec), job_name=cluster.job,
                          task_index=cluster.index, config=session_config(cluster))


def serve(cluster):
  """A ps task: serves its variables until it is killed."""
  server = start_server(cluster)
  logging.info("%s serving on %s until killed", name(cluster),
               cluster.spec[cluster.job][cluster.index])
  server.join()


def device_setter(cluster):
  """Variables round-robin on the ps tasks, every other op on this task."""
  return tf1.train.replica_device_setter(
      worker_device="/job:%s/task:%d" % (cluster.job, cluster.index),
      cluster=tf.train.ClusterSpec(cluster.spec))


def session_config(cluster):
  """A task's session sees the ps tasks and itself only, so that it need not wait for the
  other workers to come up."""
  return tf1.ConfigProto(allow_soft_placement=True, device_filters=[
      "/job:ps", "/job:%s/task:%d" % (cluster.job, cluster.index)])


def build(images, config, key, cluster):
  """DRAW on `images` [b, A, A, C], this task's part of each batch, and its synchronous
  training step. The eps are the whole batch's, drawn from `key` as one device draws them,
  and the part takes its slice; the chief's part is the first, so that feeding it a whole
  batch alone (pictures and evaluation do) gives it all of them. The global step must exist.

  Returns (a model.DrawGraph whose losses are the part's as estimates of the whole batch's,
  the l2 sum scaled to it; a Sync).
  """
  if config.loss == "vaegan":
    raise ValueError("--loss=vaegan trains on one device: its three optimisers are not "
                     "replicated")
  index, count = replica(cluster)
  batch = tf.shape(images)[0]
  whole = tf1.placeholder_with_default(batch, [], name="whole_batch")
  offset = tf.reduce_sum(towers.split_sizes(whole, count)[:index])
  noise = tf.gather(tf.random.stateless_normal(model.noise_shape(config, whole), seed=key),
                    tf.range(offset, offset + batch), axis=towers.noise_axis(config))
  draw, start = _synchronous_step(
      model.build_draw(images, config, noise=noise), config,
      tf.cast(batch, tf.float32) / tf.cast(whole, tf.float32), index, count)
  return draw, Sync(whole_batch=whole, start=start)


def _synchronous_step(draw, config, weight, index, count):
  """The step of training task `index` of `count` for `draw`, the model.DrawGraph of its
  part, which is the fraction `weight` ([] float) of the whole batch. Returns (draw with the
  schedule, global step, train_op and the losses as estimates of the whole batch's; the
  [] int64 `start` of Sync)."""
  global_step = tf1.train.get_global_step()
  kl_weight, learning_rate = objectives.schedule(config, global_step)
  part = towers.share(draw, config, weight)
  variables = tf1.trainable_variables()
  # The accumulators take the mean of the count gradients, so each is count times a share.
  grads = objectives.gradients(count * (part.gen_loss + kl_weight * part.latent_loss), variables)
  step = tf.identity(global_step)  # the step this part belongs to
  # The accumulators and queues live on the parameter servers, and so do the ops that use
  # them (a resource's ops run where it is).
  pushes, accumulators = [], []
  for grad, variable in zip(grads, variables):
    if grad is None:
      continue
    with tf.device(variable.device):
      accumulator = tf1.ConditionalAccumulator(
          grad.dtype, shape=variable.shape, shared_name=variable.op.name + "/sync_gradient")
      pushes.append(accumulator.apply_grad(grad, local_step=step))
    accumulators.append((accumulator, variable))
  with tf.device(global_step.device):
    tokens = [tf1.FIFOQueue(-1, tf.int64, shapes=[], shared_name="sync_token%d" % k,
                            name="sync_token%d" % k) for k in range(1, count)]
  if index == 0:
    means, ready = [], []
    for accumulator, variable in accumulators:
      with tf.device(variable.device):
        with tf.control_dependencies(pushes):  # the chief's own part first
          means.append((accumulator.take_grad(count), variable))
        ready.append(accumulator.set_global_step(step))
    update = objectives.adam_step(means, config, learning_rate, global_step)
    with tf.device(global_step.device):
      with tf.control_dependencies([update]):
        done = tf.identity(global_step)
      train_op = tf.group([done] + [queue.enqueue(done) for queue in tokens])
      with tf.control_dependencies(ready):
        start = tf.identity(global_step)
      with tf.control_dependencies([queue.enqueue(start) for queue in tokens]):
        start = tf.identity(start)
  else:
    with tf.device(global_step.device):
      with tf.control_dependencies(pushes):
        train_op = tokens[index - 1].dequeue().op
      start = tokens[index - 1].dequeue()
  gen_loss = draw.gen_loss / weight if config.loss in towers.SUMMED else draw.gen_loss
  return draw._replace(
      gen_loss=gen_loss, loss=gen_loss + draw.latent_loss,
      objective=gen_loss + kl_weight * draw.latent_loss, kl_weight=kl_weight,
      learning_rate=learning_rate, train_op=train_op, global_step=global_step), start
