# Two commands on a fresh machine:
#   make demo   create .venv, install mtrec-ray, run the main job on the embedded default
#   make test   create .venv, install mtrec-ray with test extras, run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= runs/demo
DEMO_ARGS ?=
TORCH_PIN ?= torch==2.13.0

.PHONY: venv install demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

venv: $(BIN)/python

install: venv
	# CPU machines: the pinned CPU wheel (a bare `torch` pulls a multi-GB CUDA build).
	$(BIN)/pip install -q "$(TORCH_PIN)"
	$(BIN)/pip install -q -e ".[dev]"

demo: install
	$(BIN)/mtrec demo --out $(OUT) $(DEMO_ARGS)

test: install
	RAY_AUTH_MODE=disabled $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check mtrec_ray envs tests benchmarks examples

bench: install
	$(BIN)/python benchmarks/data_pipeline.py

clean:
	rm -rf $(VENV) runs build *.egg-info
