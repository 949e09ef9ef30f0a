"""Between-graph replication from TF_CONFIG: parameter servers hold the variables, every
worker builds its own graph and trains on its part of each batch, synchronously.

TF_CONFIG is the JSON that TensorFlow's cluster tools (a Kubeflow TFJob among them) give
every task: {"cluster": {"ps": [HOST:PORT, ...], "worker": [...], "chief": [...]},
"task": {"type": "worker", "index": 0}}. `ps` tasks only serve their variables. The
training tasks are the chief (if the cluster has a "chief" job) and then the workers, in
that order; the first of them is the chief, which alone initialises or restores the
variables and writes checkpoints, summaries and pictures.

A step, with K training tasks: each task cuts the step's batch as datasets.part_bounds says
and computes the gradient of its part's share of the whole batch's objective
(towers.share). Each task but the chief puts it, tagged with the step, into its own
ConditionalAccumulator of each variable on the parameter servers; the chief takes one
gradient from each of them, adds its own, which makes the gradient one device computes on
the whole batch, and applies it with objectives.adam_step (clipping and Adam as on one device).
Then it puts the new step into one token queue per other task, where each of them waits for
it before its next step. A task is thus never more than one step ahead, and every step has
exactly one part from each task: the run equals one device's on the same batches (the same
data order, eps and schedule), up to rounding. This is TensorFlow's SyncReplicasOptimizer
with an accumulator and a token queue per task instead of shared ones, and the clipping
after the sum.

A worker that dies and is started again rejoins: it waits until the variables are
initialised, drops the tokens of the steps it missed and starts at the step the chief is
at. A gradient it puts in for a step whose gradients the chief has already taken is
dropped as stale by the accumulator; one for a step its earlier self had already put in is
averaged with that one, which is the same gradient (the same batch, weights and eps), so a
rejoin leaves the run exact. The weights are the same because the chief changes none before
every part of every gradient is in (a worker killed mid-push left some of them). The chief
cannot rejoin: a ps that already holds initialised variables stops it (see connect). Every
wait is bounded by Cluster.timeout.
"""

import collections
import contextlib
import json
import re
import socket
import threading
import time

from absl import logging
import tensorflow as tf

from draw_color import fileio
from draw_color import model
from draw_color import objectives
from draw_color import towers

tf1 = tf.compat.v1

TRAINING_JOBS = ("chief", "worker")
READY_POLL_SECS = 1.0  # how often a worker asks whether the chief has the variables ready

Cluster = collections.namedtuple(
    "Cluster",
    [
        "spec",  # {job: [HOST:PORT, ...]} of TF_CONFIG's "cluster".
        "job",  # This task's job: "ps", "chief" or "worker".
        "index",  # This task's index in its job.
        "timeout",  # Seconds this task waits for the others before it stops with an error.
    ])

Sync = collections.namedtuple(
    "Sync",
    [
        "whole_batch",  # [] int32 placeholder: the step's images over all tasks.
        "step",  # [] int64 placeholder: the step the fed part belongs to, which tags its
        #          gradient, so that a stale one is dropped.
        "ready",  # [n] string: the variables not yet initialised on the ps, none when ready.
        "start",  # [] int64: the step to train first; for the chief, running it also readies
        #           the accumulators for it; for the others, it drops the stale tokens.
    ])


def parse(text, timeout):
  """TF_CONFIG's JSON -> a Cluster waiting `timeout` seconds for the others; UserError naming
  TF_CONFIG when it is not one."""
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
  return Cluster(spec=spec, job=job, index=index, timeout=timeout)


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


def shape(cluster):
  """{job: number of tasks}, as hparams.json records it."""
  return {job: len(hosts) for job, hosts in sorted(cluster.spec.items())}


def _tasks(cluster, tasks):
  """(job, index) pairs -> "worker 1 (localhost:2224) and ps 0 (localhost:2222)"."""
  named = ["%s %d (%s)" % (job, i, cluster.spec[job][i]) for job, i in tasks]
  return " and ".join([", ".join(named[:-1]), named[-1]] if len(named) > 1 else named)


def _ps(cluster):
  """The ps tasks as (job, index)."""
  return [("ps", i) for i in range(len(cluster.spec["ps"]))]


def start_server(cluster):
  """The tf1.train.Server of this task, serving on its TF_CONFIG address."""
  return tf1.train.Server(tf.train.ClusterSpec(cluster.spec), job_name=cluster.job,
                          task_index=cluster.index, config=session_config(cluster))


def serve(cluster):
  """A ps task: serves its variables until it is killed or interrupted (KeyboardInterrupt)."""
  start_server(cluster)
  logging.info("%s serving on %s until killed or Ctrl-C", name(cluster),
               cluster.spec[cluster.job][cluster.index])
  # Not the server's join(): it waits in TensorFlow's C++, where Ctrl-C never reaches Python.
  while True:
    time.sleep(3600)


def free_ports(count):
  """`count` TCP ports of localhost that nothing listens on now, for a localhost cluster."""
  sockets = [socket.socket() for _ in range(count)]
  try:
    for s in sockets:
      s.bind(("localhost", 0))
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


def device_setter(cluster):
  """Variables round-robin on the ps tasks, every other op on this task."""
  return tf1.train.replica_device_setter(worker_device=_worker_device(cluster),
                                        cluster=tf.train.ClusterSpec(cluster.spec))


def _worker_device(cluster):
  """This task's device name, e.g. "/job:worker/task:1"."""
  return "/job:%s/task:%d" % (cluster.job, cluster.index)


def session_config(cluster):
  """A task's session sees the ps tasks and itself only, so that it need not wait for the
  other workers to come up; every run of it gives up after the cluster's timeout."""
  return tf1.ConfigProto(
      allow_soft_placement=True, operation_timeout_in_ms=int(cluster.timeout * 1000),
      device_filters=["/job:ps", _worker_device(cluster)])


def build(images, config, key, cluster):
  """DRAW on `images` [b, A, A, C], this task's part of each batch, and its synchronous
  training step. The eps are the whole batch's, drawn from `key` as one device draws them,
  and the part takes its slice; the chief's part is the first, so that feeding it a whole
  batch alone (pictures and evaluation do) gives it all of them. The global step must exist.

  Returns (a model.DrawGraph whose losses are the part's as estimates of the whole batch's,
  the l2 sum scaled to it; a Sync).
  """
  if config.loss == "vaegan":
    raise ValueError("--loss=vaegan trains in one process: its three optimisers are not "
                     "replicated")
  index, count = replica(cluster)
  batch = tf.shape(images)[0]
  whole = tf1.placeholder_with_default(batch, [], name="whole_batch")
  offset = tf.reduce_sum(towers.split_sizes(whole, count)[:index])
  noise = tf.gather(tf.random.stateless_normal(model.noise_shape(config, whole), seed=key),
                    tf.range(offset, offset + batch), axis=towers.noise_axis(config))
  # Each variable read once a step, on this task: else each of the T steps that uses it
  # reads it from the ps anew.
  with tf1.variable_scope(tf1.get_variable_scope(), caching_device=_worker_device(cluster)):
    draw = model.build_draw(images, config, noise=noise)
  return _synchronous_step(draw, config, tf.cast(batch, tf.float32) / tf.cast(whole, tf.float32),
                           index, count, whole)


def _synchronous_step(draw, config, weight, index, count, whole):
  """The step of training task `index` of `count` for `draw`, the model.DrawGraph of its
  part, which is the fraction `weight` ([] float) of the whole batch of `whole` images.
  Returns (draw with the schedule, global step, train_op and the losses as estimates of the
  whole batch's; the Sync)."""
  global_step = tf1.train.get_global_step()
  kl_weight, learning_rate = objectives.schedule(config, global_step)
  part = towers.share(draw, config, weight)
  variables = tf1.trainable_variables()
  grads = objectives.gradients(part.gen_loss + kl_weight * part.latent_loss, variables)
  step = tf1.placeholder(tf.int64, [], name="sync_step")
  # The accumulators and queues live on the parameter servers, and so do the ops that use
  # them (a resource's ops run where it is). accumulators[v][k - 1]: task k's of variable v.
  accumulators, pairs = [], []
  for grad, variable in zip(grads, variables):
    if grad is None:
      continue
    with tf.device(variable.device):
      accumulators.append([tf1.ConditionalAccumulator(
          grad.dtype, shape=variable.shape,
          shared_name="%s/sync_gradient_%d" % (variable.op.name, k)) for k in range(1, count)])
    pairs.append((grad, variable))
  with tf.device(global_step.device):
    tokens = [tf1.FIFOQueue(-1, tf.int64, shapes=[], shared_name="sync_token%d" % k,
                            name="sync_token%d" % k) for k in range(1, count)]
  ready = tf1.report_uninitialized_variables()
  if index == 0:
    sums, takes = [], []
    for (grad, variable), parts in zip(pairs, accumulators):
      with tf.device(variable.device):
        taken = [accumulator.take_grad(1) for accumulator in parts]
      sums.append((tf.add_n([grad] + taken), variable))
      takes += taken
    # No variable changes before every part of every gradient is in. Adam updates each
    # variable once its own sum is ready; a worker that rejoins mid-step (its earlier self
    # put in some parts) recomputes the rest from the weights it reads, which must still be
    # the step's: else its parts come from half-updated weights and the run drifts.
    with tf.control_dependencies(takes):
      sums = [(tf.identity(total), variable) for total, variable in sums]
    update = objectives.adam_step(sums, config, learning_rate, global_step)
    with tf.device(global_step.device):
      with tf.control_dependencies([update]):
        done = tf.identity(global_step)
      train_op = tf.group([done] + [queue.enqueue(done) for queue in tokens])
      # A gradient tagged with an earlier step than the one restored is stale.
      with tf.control_dependencies([accumulator.set_global_step(global_step)
                                    for parts in accumulators for accumulator in parts]):
        start = tf.identity(global_step)
  else:
    pushes = []
    for (grad, variable), parts in zip(pairs, accumulators):
      with tf.device(variable.device):
        pushes.append(parts[index - 1].apply_grad(grad, local_step=step))
    queue = tokens[index - 1]
    with tf.device(global_step.device):
      with tf.control_dependencies(pushes):
        train_op = queue.dequeue().op
      # The step first, then the tokens: a token put in between is the step after it.
      current = tf.identity(global_step)
      with tf.control_dependencies([current]):
        stale = queue.dequeue_many(queue.size())
      start = tf.maximum(current, tf.reduce_max(stale))  # the max of none is the least int64
  gen_loss = draw.gen_loss / weight if config.loss in towers.SUMMED else draw.gen_loss
  draw = draw._replace(
      gen_loss=gen_loss, loss=gen_loss + draw.latent_loss,
      objective=gen_loss + kl_weight * draw.latent_loss, kl_weight=kl_weight,
      learning_rate=learning_rate, train_op=train_op, global_step=global_step)
  return draw, Sync(whole_batch=whole, step=step, ready=ready, start=start)


def _first_run(sess, fetch, cluster):
  """sess.run(fetch), the session's first run, bounded by the cluster's timeout.

  Creating a session waits for every task it sees without a deadline (TensorFlow's
  master.cc DeviceFinder, whose timeout is a TODO), so this run waits in a thread; a
  thread still waiting when this process exits does not hold it up.
  """
  outcome = []

  def run():
    try:
      outcome.append(sess.run(fetch))
    except tf.errors.OpError as e:
      outcome.append(e)

  thread = threading.Thread(target=run, daemon=True)
  thread.start()
  thread.join(cluster.timeout)
  if not outcome:
    raise fileio.UserError(
        "%s waited %g s (--cluster_timeout) for %s to answer; start it, or check the address "
        "in TF_CONFIG" % (name(cluster), cluster.timeout,
                          _tasks(cluster, _ps(cluster))))
  if isinstance(outcome[0], tf.errors.OpError):
    raise _lost(cluster, outcome[0])
  return outcome[0]


def connect(sess, sync, cluster):
  """Waits for the ps tasks, and a worker for the chief to initialise or restore the
  variables; all within the cluster's timeout, else UserError naming whom it waited for.

  The chief stops with UserError where the variables on the ps are initialised already:
  the ps outlived an earlier chief, whose run the workers may still be in.
  """
  missing = _first_run(sess, sync.ready, cluster)
  if replica(cluster)[0] == 0:
    if not len(missing):
      raise fileio.UserError(
          "%s holds initialised variables: it outlived an earlier chief, which cannot rejoin; "
          "stop every task, the ps too, and launch them again (the chief resumes from its "
          "latest checkpoint)" % _tasks(cluster, _ps(cluster)))
    return
  deadline = time.time() + cluster.timeout
  while len(missing):
    if time.time() > deadline:
      raise fileio.UserError(
          "%s waited %g s (--cluster_timeout) for the chief, %s, to initialise or restore the "
          "variables; start it" % (name(cluster), cluster.timeout,
                                   _tasks(cluster, replicas(cluster)[:1])))
    time.sleep(READY_POLL_SECS)
    missing = sess.run(sync.ready)


@contextlib.contextmanager
def guard(cluster):
  """Turns the errors of a cluster that lost a task or waited past its timeout into one
  UserError naming the task(s) waited for; `cluster` None: does nothing."""
  if not cluster:
    yield
    return
  try:
    yield
  except tf.errors.DeadlineExceededError:
    others = replicas(cluster)[1:]
    if replica(cluster)[0]:
      waited = "the chief, %s, to finish a step (it waits for every task's part)" % _tasks(
          cluster, replicas(cluster)[:1])
    elif others:
      waited = "the parts of a step of %s" % _tasks(cluster, others)
    else:
      waited = _tasks(cluster, _ps(cluster))
    raise fileio.UserError(
        "%s waited %g s (--cluster_timeout) for %s; a worker that stopped rejoins when started "
        "again, else stop every task and launch them again to resume from the chief's latest "
        "checkpoint" % (name(cluster), cluster.timeout, waited)) from None
  except (tf.errors.UnavailableError, tf.errors.AbortedError,
          tf.errors.CancelledError) as e:
    raise _lost(cluster, e) from None


def _lost(cluster, error):
  """A UserError for an error of TensorFlow's runtime that reached no task or lost one."""
  found = re.search(r"/job:(\w+)/replica:\d+/task:(\d+)", error.message)
  whom = "a task of the cluster"
  if found and found.group(1) in cluster.spec:
    whom = _tasks(cluster, [(found.group(1), int(found.group(2)))])
  return fileio.UserError(
      "%s lost %s (%s: %s); stop every task and launch them again to resume from the chief's "
      "latest checkpoint" % (name(cluster), whom, type(error).__name__,
                             fileio.error_reason(error)))
