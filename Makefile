# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BB     := $(VENV)/bin/brainbench
STAMP  := $(VENV)/.brainbench-installed

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml tools/install.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) tools/install.py --extras test
	touch $(STAMP)

install: $(STAMP)

# The main job, offline: two real models on the built-in synthetic benchmark.
demo: install
	$(BB) score --model efficientnet_lite0 --benchmark 'synthetic.*'
	$(BB) score --model resnet18 --weights random --benchmark 'synthetic.*'
	$(BB) leaderboard synthetic

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) build dist *.egg-info
