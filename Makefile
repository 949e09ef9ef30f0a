# draw-color: colour DRAW on CelebA. Run times are for a 2-core CPU.
#   make train FLAGS="--epochs=3"           pass any flag of `python -m draw_color.main --help`
#   make train DATA_DIR=/path/to/celeba     train on data placed elsewhere
#   make train CONFIG=paper_mnist           start from draw_color/configs/paper_mnist.cfg

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DATA_DIR ?= data/celeba
BENCH_DATA ?= data/celeba_subset
FLAGS ?=
CONFIG ?=
RUNS ?= runs
# A configuration's flags first, so that DATA_DIR and FLAGS override them; DATA_DIR is passed
# when given or when no configuration names the data.
CONFIG_FLAGS = $(if $(CONFIG),--flagfile=draw_color/configs/$(CONFIG).cfg)
DATA_FLAG = $(if $(or $(filter command line,$(origin DATA_DIR)),$(if $(CONFIG),,x)),--data_dir=$(DATA_DIR))

.PHONY: install train eval test mutate data subset gif bench tensorboard plot clean

# A virtual environment in .venv with the package and its dependencies (~1-2 min the first
# time, TensorFlow is ~600 MB; instant afterwards).
install: $(VENV)/.installed
$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# Train (or resume) with the defaults into runs/celeba, or with CONFIG's; without a CONFIG,
# fetches CelebA first if DATA_DIR holds no images. Full CelebA: 10 epochs of 2,544 steps, ~1 h
# on 2 CPU cores (see README); the 6,000-image subset's 4,560 training faces: ~15 s an epoch;
# paper_mnist: ~3.5 min an epoch alone, paper_mnist_noattn ~5 min (2-core AMD EPYCs of
# 2026-12-05; machines of the same name have differed by 2x, see docs/mnist_training.md);
# celeba_best (the README's recipe): one hour, vaegan: one hour (stopped by its epochs).
train: install
	@if [ -z "$(CONFIG)$(findstring --data_dir,$(FLAGS))" ] && \
	    ! find $(DATA_DIR)/img_align_celeba -maxdepth 1 -name '*.jpg' -print -quit 2>/dev/null \
	    | grep -q .; then $(MAKE) data; fi
	$(PY) -m draw_color.main --mode=train $(CONFIG_FLAGS) $(DATA_FLAG) $(FLAGS)

# Evaluates the latest checkpoint of the logdir (FLAGS="--logdir=... --eval_split=test") and
# writes LOGDIR/eval_SPLIT.json (~1 min for 10,000 MNIST digits).
eval: install
	$(PY) -m draw_color.main --mode=eval $(CONFIG_FLAGS) \
	    $(if $(filter command line,$(origin DATA_DIR)),--data_dir=$(DATA_DIR)) $(FLAGS)

# The unit and end-to-end tests, 410, in two passes: first those that do not race the clock on
# TEST_WORKERS pytest-xdist workers (each imports TensorFlow and trains tiny models; 2 suit 2
# cores), then the 17 that do (marked `serial`: cluster timeouts, signals at chosen moments) in
# one process, so that no other test shares their cores (in one pass on 2 workers, one of them
# failed once in six runs on 2026-11-25). On the 2-core AMD EPYC beside two training jobs at the
# lowest priority: 14 min (9 min 42 s and 4 min 11 s) on 2026-12-03, 21-22 min in one process
# the same day; on 2026-12-04 with nothing else running, 7 min 27 s from a clean clone (4 min 16 s
# and 2 min 39 s, the first install included); on 2026-12-06 beside one training job at the
# lowest priority, 12 min 31 s from a clean clone (7 min 45 s and 3 min 50 s, install included).
TEST_WORKERS ?= 2
test: install
	$(PY) -m pytest -q -n $(TEST_WORKERS) -m "not serial" tests
	$(PY) -m pytest -q -m serial tests

# Mutation testing (mutmut 2) of the maths in MUTATE (files that mutmut_config.py mutates; another
# is refused in one line): each mutant is judged by its file's tests
# (mutmut_config.py says which functions are mutated and which tests judge them; it refuses to
# start while a test of those files that calls a mutated function is not selected), run by a test
# server that imports TensorFlow once. `$(PY) -m mutmut results` lists the survivors, `$(PY) -m
# mutmut show ID` shows one; a later run retests only those. The whole scope from an empty cache,
# when it had 732 mutants (1,205 now): about an hour on 2 cores beside three training jobs at the
# lowest priority (~5 s a killed mutant, up to ~100 s a surviving one of vaegan.py).
# It mutates the files in place: an interrupted run can leave a mutant behind, which would
# then be part of every later mutant, so it refuses to start while they differ from git.
# Leave `mutmut results` and `mutmut show` until it has finished: they renumber the cache's lines
# from the file as it is, a mutant at the time, and the run then stops on "Mutant.line is
# required" (make mutate again goes on from there).
# mutmut calls a mutant whose tests take over 2x the unmutated run "timed out"; on 2 shared
# cores the VAE/GAN tests alone vary more than that, so the margin is 10x (the test server
# still kills a hung mutant after MUTANT_TIMEOUT).
MUTATE ?= draw_color/celeba.py draw_color/datasets.py draw_color/evaluate.py draw_color/model.py \
	  draw_color/objectives.py draw_color/swd.py draw_color/vaegan.py
mutate: install
	@$(PY) mutmut_config.py check $(MUTATE)
	@git diff --quiet -- $(MUTATE) || { echo "error: $(MUTATE) differ from git: commit them," \
	  "or restore a mutant an interrupted run left (git checkout -- draw_color)"; exit 1; }
	$(PY) mutmut_config.py serve > .mutmut-server.log 2>&1 & server=$$!; \
	trap 'kill $$server' EXIT; \
	for f in $(MUTATE); do \
	  $(PY) -m mutmut run --paths-to-mutate $$f --tests-dir tests --test-time-multiplier 10 \
	      --runner "$(PY) mutmut_config.py run $$f"; \
	  rc=$$?; [ $$((rc & 1)) = 0 ] || exit $$rc; \
	done; \
	$(PY) -m mutmut results

# Downloads CelebA's img_align_celeba.zip (1.4 GB) and list_eval_partition.txt from the
# official source into DATA_DIR, checks and unpacks them (minutes, network bound).
data: install
	$(PY) -m draw_color.main --mode=data --data_dir=$(DATA_DIR)

# The 6,000 faces the README's CelebA numbers come from (named in data/celeba_subset.txt):
# links to them and to the split file of the CelebA in DATA_DIR, in data/celeba_subset.
subset: install
	$(PY) -m draw_color.main --mode=subset --data_dir=$(DATA_DIR)

# The blog's pictures and GIFs of the latest checkpoint in runs/celeba, into runs/celeba/gif;
# the data settings come from the run's hparams.json unless DATA_DIR is given (~30 s).
gif: install
	$(PY) -m draw_color.main --mode=gif \
	    $(if $(filter command line,$(origin DATA_DIR)),--data_dir=$(DATA_DIR)) $(FLAGS)

# Training and forward images/s at the reference configuration on synthetic data and through
# the loader, the loader's rates, the machine's matmul limit, and training as the worker of a
# localhost cluster with 1 ps (its extra ms a step, the bytes its ps moves); a table, and
# bench.json (~1.5 min).
# FLAGS="--devices=gpu:0,gpu:1" (or cpu:0,cpu:1) adds training on those towers (~30 s more).
bench: install
	$(PY) -m draw_color.main --mode=bench --data_dir=$(BENCH_DATA) $(FLAGS)

# TensorBoard over every run in RUNS (default runs/) at http://localhost:6006, Ctrl-C to stop;
# installs tensorboard into .venv the first time (~1 min).
tensorboard: install
	$(PY) -c "import tensorboard" 2>/dev/null || $(PY) -m pip install --quiet tensorboard
	$(PY) -m tensorboard.main --logdir $(RUNS)

# The training and valid curves of the runs in RUNS_PLOTTED (comma-separated, default
# runs/celeba) into PLOT (default curves.png); installs matplotlib into .venv if missing (~30 s).
RUNS_PLOTTED ?= runs/celeba
PLOT ?= curves.png
plot: install
	$(PY) -c "import matplotlib" 2>/dev/null || $(PY) -m pip install --quiet -e '.[plot]'
	$(PY) -m draw_color.main --mode=plot --plot_logdirs=$(RUNS_PLOTTED) --plot_file=$(PLOT) $(FLAGS)

# Removes the virtual environment (runs and data stay).
clean:
	rm -rf $(VENV) *.egg-info
