# The two commands a newcomer runs: `make setup` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup test bench clean

setup: $(BIN)/torchup
	$(BIN)/torchup detect --python $(VENV)

# torchup itself, editable, with the test extra; rebuilt when the project's metadata changes.
$(BIN)/torchup: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

test: $(BIN)/torchup
	$(BIN)/python -m pytest

bench: $(BIN)/torchup
	$(BIN)/python tests/bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
