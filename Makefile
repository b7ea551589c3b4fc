# Two commands set everything up on a fresh machine:
#   make demo   create .venv if needed, install, run the main job
#   make test   create .venv if needed, install, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench-derive bench-step bench-cold clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m hamopt.demo

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check hamopt tests derivations benchmarks papers

bench-derive: $(STAMP)
	$(PY) benchmarks/derive_time.py

# step time against torch.optim (1M parameters; see the script for the acceptance sizes)
bench-step: $(STAMP)
	$(PY) benchmarks/step_time.py

# derive + generate RAD, and the first fused step's compile time, cold and cached
bench-cold: $(STAMP)
	$(PY) benchmarks/cold_start.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
