# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BB     := $(VENV)/bin/brainbench
STAMP  := $(VENV)/.brainbench-installed

.PHONY: install demo test bench gpu-check clean

$(STAMP): pyproject.toml tools/install.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) tools/install.py --extras test
	touch $(STAMP)

install: $(STAMP)

# The main job: two real models on real macaque V4 recordings (publisher or BRAINBENCH_MIRROR), then on the
# built-in simulation; the real-data leaderboard first (tools/demo.py).
demo: install
	$(PY) tools/demo.py

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/run.py

# The CUDA paths against the CPU (tests/test_cuda.py, pytest -m cuda) and a CUDA vs CPU benchmark, one line each;
# under 8 minutes on one GPU. Without a CUDA device: one line saying so, exit 0 (tools/gpu_check.py).
gpu-check: install
	$(PY) tools/gpu_check.py

clean:
	rm -rf $(VENV) build dist *.egg-info
