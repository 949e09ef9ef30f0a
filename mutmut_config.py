"""mutmut 2 hooks for `make mutate`: what is mutated, and which tests judge each file.

Only the maths is mutated: the functions and classes named in SCOPE (the filterbanks, read and
write, the LSTM, the KL and the losses, the sampler, the VAE/GAN losses and discriminator,
evaluate's measures and the SWD, the loader's crop/resize and batching), less the lines that
raise or log. Each mutant of a file is judged by that file's tests alone (TESTS), stopping at the
first failure: the whole suite per mutant would take ~9 min.

Importing TensorFlow costs seconds, more than most tests here, so the tests do not run in a
new interpreter per mutant: `python mutmut_config.py serve` imports it once and runs each
request's tests in a child forked from it, which imports draw_color (mutated on disk by mutmut)
afresh, and is killed after MUTANT_TIMEOUT seconds or when mutmut's own timeout kills its
client; `python mutmut_config.py run FILE`, mutmut's runner, asks the server for FILE's tests.
The server never builds a graph or starts a session, so the children's thread pools are their
own. (mutmut 3 forks from a process that has run the tests, whose TensorFlow thread pools do
not survive a fork.)
"""

import ast
import functools
import json
import os
import select
import shlex
import signal
import socket
import subprocess
import sys
import time

SCOPE = {
    "draw_color/model.py": (
        "_matmul_grad", "_matmul", "_linear", "_lstm_cell", "window_params", "filter_centres",
        "filterbank", "read_patches", "write_patches", "_Draw", "_stack_windows", "_zeros_state",
        "_to_images",
        "noise_shape", "build_draw", "build_sampler"),
    "draw_color/objectives.py": (
        "schedule", "parse_lr_schedule", "float32_number", "gradients", "clip", "adam_step",
        "_scheduled", "minimize", "_partition", "balance", "_vaegan_optimizer",
        "minimize_vaegan"),
    "draw_color/evaluate.py": (
        "gradient_magnitude", "differing_share", "blank", "blank_share", "mean_pairwise_distance",
        "coarse", "median_nearest_distance", "sample_measures", "gaussian_gap",
        "PosteriorMoments", "_batches", "evaluate", "likelihood_sigma", "real_swd"),
    "draw_color/swd.py": (
        "_blur", "pyramid_down", "pyramid_up", "fits", "levels", "laplacian_pyramid", "descriptors",
        "sliced_wasserstein", "distance"),
    "draw_color/vaegan.py": ("_conv", "_dense", "_spectral_norm", "_batch_norm", "discriminator",
                             "_minibatch_spread", "augment", "noise_scale", "_per_picture",
                             "fitted_noise", "build"),
    "draw_color/celeba.py": ("_crop_resize",),
    "draw_color/datasets.py": ("spread", "_spaced", "fingerprint", "part_bounds", "Batches",
                               "fixed_batch", "_to_float"),
}
# The tests that judge each file's mutants (pytest arguments); the end-to-end ones (training
# runs, the CLI, resuming) are left to `make test`.
TESTS = {
    "draw_color/model.py": "tests/test_model_numpy.py tests/test_model.py",
    "draw_color/objectives.py": (
        "tests/test_objectives.py tests/test_vaegan_numpy.py tests/test_vaegan.py -k 'schedule"
        " or balanc or warm or decay or float32 or one_step or training_step or training_fields"
        " or optimiser or losses_and or r1_penalty'"),
    "draw_color/evaluate.py": (
        "tests/test_evaluate_measures.py tests/test_evaluate.py tests/test_vaegan.py -k 'blank or"
        " pairwise or gradient_magnitude or measures or one_image or bound_matches or colour_eval"
        " or batches_do_not or swd or real_floor or prior_gap or mixtures_moments"
        " or distinctness'"),
    "draw_color/swd.py": "tests/test_swd.py tests/test_evaluate_measures.py -k 'swd or real_floor'",
    "draw_color/vaegan.py": (
        "tests/test_vaegan_numpy.py tests/test_vaegan.py -k 'discriminator or optimiser or losses"
        " or balanc or schedules or feature_loss or instance_noise or spectral or fitted"
        " or r1_penalty or minibatch_spread or augment_is'"),
    "draw_color/celeba.py": "tests/test_loader.py tests/test_celeba.py -k 'preprocess or crop'",
    "draw_color/datasets.py": (
        "tests/test_loader.py tests/test_datasets.py tests/test_celeba.py -k 'batches or part"
        " or fixed_batch or shared or fingerprint or spread'"),
}
MUTANT_TIMEOUT = 900  # seconds (the VAE/GAN tests took over 300 on a loaded machine); a mutant
#                      that hangs its tests counts as killed
ADDRESS = ".mutmut.sock"  # the server's Unix socket, in the repository root


def serve():
  """Runs the requested pytest arguments, one request at a time, each in a forked child."""
  # Here, not at the top: mutmut imports this file for its hook, and the runner must start fast.
  import numpy  # noqa: F401  imported once for every child
  import pytest
  import tensorflow  # noqa: F401  imported once for every child
  if os.path.exists(ADDRESS):
    os.remove(ADDRESS)
  server = socket.socket(socket.AF_UNIX)
  server.bind(ADDRESS)
  server.listen()
  while True:
    conn, _ = server.accept()
    with conn:
      args = json.loads(conn.makefile().readline())
      pid = os.fork()
      if pid == 0:  # the child: its output goes to the client
        os.dup2(conn.fileno(), 1)
        os.dup2(conn.fileno(), 2)
        code = pytest.main(args)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code))
      deadline = time.monotonic() + MUTANT_TIMEOUT
      while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
          code = os.waitstatus_to_exitcode(status)
          break
        if time.monotonic() > deadline or _hung_up(conn):
          os.kill(pid, signal.SIGKILL)
          os.waitpid(pid, 0)
          code = 124
          break
      conn.sendall(b"\nexit %d\n" % code)


def _hung_up(conn):
  """Whether the client has gone (mutmut's own timeout killed it), waiting up to 20 ms."""
  readable, _, _ = select.select([conn], [], [], 0.02)
  return bool(readable) and not conn.recv(1, socket.MSG_PEEK)


def run(filename):
  """mutmut's runner: FILE's tests by the server; prints their output, exits with their code."""
  args = ["-x", "-q", "-p", "no:cacheprovider"] + shlex.split(TESTS[filename])
  for _ in range(600):  # the server may still be importing TensorFlow
    try:
      client = socket.socket(socket.AF_UNIX)
      client.connect(ADDRESS)
      break
    except (FileNotFoundError, ConnectionRefusedError):
      client.close()
      time.sleep(0.5)
  else:
    sys.exit("no test server at %s: start `python mutmut_config.py serve`" % ADDRESS)
  with client:
    client.sendall(json.dumps(args).encode() + b"\n")
    output = client.makefile("rb").read().decode(errors="replace")
  text, _, code = output.rstrip("\n").rpartition("\nexit ")
  print(text)
  sys.exit(int(code))


@functools.lru_cache(maxsize=None)
def _owners(filename):
  """{line number (1-based): name of the top-level function or class it is in}."""
  with open(filename) as f:
    tree = ast.parse(f.read())
  return {line: node.name for node in tree.body
          if isinstance(node, (ast.FunctionDef, ast.ClassDef))
          for line in range(node.lineno, node.end_lineno + 1)}


def pre_mutation(context):
  filename = context.filename.replace("\\", "/")
  line = context.current_source_line.strip()
  owner = _owners(context.filename).get(context.current_line_index + 1)
  if (owner not in SCOPE.get(filename, ()) or line.startswith("raise ")
      or line.startswith(("logging.", "log("))):
    context.skip = True
    return
  context.config.test_command = "%s %s run %s" % (sys.executable, __file__, filename)


def _callers(test_file, module, names):
  """Names of the tests in test_file that call one of module's names as `module.name`, or
  through the file's own functions (helpers that build the graph) that do."""
  with open(test_file) as f:
    tree = ast.parse(f.read())
  functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
  uses = {name: {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} & set(functions)
          for name, node in functions.items()}  # {function: the file's functions it names}
  calling = {name for name, node in functions.items() for n in ast.walk(node)
             if isinstance(n, ast.Attribute) and n.attr in names
             and isinstance(n.value, ast.Name) and n.value.id == module}
  while True:
    more = {name for name in functions if uses[name] & calling} - calling
    if not more:
      return {name for name in calling if name.startswith("test")}
    calling |= more


def _collected(args):
  """The tests pytest collects with args, as FILE::NAME (no [parameters])."""
  out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p",
                        "no:cacheprovider"] + args, capture_output=True, text=True).stdout
  return {line.split("[")[0] for line in out.splitlines() if "::" in line}


def check(filenames):
  """Exits with one line unless every file is one SCOPE mutates (make mutate's MUTATE), and
  every test of TESTS' files that calls one of SCOPE's functions is among those TESTS selects
  (its -k chooses tests by name: a test it misses judges nothing, as the R1 penalty's once)."""
  unknown = [f for f in filenames if f not in SCOPE]
  if unknown:
    sys.exit("error: MUTATE names %s, which mutmut_config.py does not mutate; it mutates %s"
             % (", ".join(unknown), " ".join(SCOPE)))
  missed = []
  for filename in filenames:
    args = shlex.split(TESTS[filename])
    module = os.path.splitext(os.path.basename(filename))[0]
    callers = {"%s::%s" % (test_file, name) for test_file in args if test_file.endswith(".py")
               for name in _callers(test_file, module, SCOPE[filename])}
    missed += sorted(callers - _collected(args))
  if missed:
    sys.exit("error: TESTS' -k leaves out %s, which call functions that SCOPE mutates: name them"
             " in mutmut_config.py" % ", ".join(missed))


if __name__ == "__main__":
  if sys.argv[1] == "serve":
    serve()
  elif sys.argv[1] == "check":
    check(sys.argv[2:])
  else:
    run(sys.argv[2])
