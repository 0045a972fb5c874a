# The two commands a newcomer runs: `make setup` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Real wheels for the end-to-end tests (the CPU torch, its dependencies, numpy, scipy), fetched
# once through this machine's own pip configuration; the tests serve them on 127.0.0.1.
WHEELHOUSE := build/wheelhouse
TEST_TORCH ?= torch==2.13.0+cpu
# torchup's own dependencies, and uv, which the bootstrap's tests serve on 127.0.0.1 beside torch.
BOOTSTRAP_WHEELS := $(WHEELHOUSE)/bootstrap
# A venv holding that CPU torch, put there by torchup itself, for the doctor's tests.
TORCH_VENV := build/torch-venv
# torchvision releases for the doctor's companion tests beside that torch: 0.29.0 (built for
# torch 2.14.0), PyPI's 0.28.0 (built for 2.13.0, a CUDA build) and, where this machine's pip
# sources hold it, 0.28.0+cpu (the matching build). Its own folder: the wheelhouse may be shared.
COMPANION_WHEELS := build/companion-wheels

# torchup's own wheel and its dependencies, for tools/device_check.sh on a GPU machine without network.
DEVICE_WHEELS := build/device-wheels

.PHONY: setup test bench clean device-wheels

# The main job: torchup into .venv, then PyTorch, numpy and scipy into the same venv, verified.
setup: $(BIN)/torchup
	$(BIN)/torchup install --venv $(VENV) --yes

# torchup itself, editable, with the test extra; rebuilt when the project's metadata changes.
# First the system Python is examined with the standard library alone: one too old (its check is
# Python 2 syntax too), or one without TLS, pip or venv support, stops here with the cause and
# the fix, before a venv is made or pip is ever run.
$(BIN)/torchup: pyproject.toml
	@$(PYTHON) -c "import sys; sys.exit(0 if sys.version_info >= (3, 9) else 'torchup needs Python 3.9 or newer; $(PYTHON) is %d.%d: make setup PYTHON=python3.12' % sys.version_info[:2])"
	$(PYTHON) -m installer.preflight
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(WHEELHOUSE)/.complete:
	$(PYTHON) -m pip download --quiet --only-binary=:all: --dest $(WHEELHOUSE) '$(TEST_TORCH)' numpy scipy
	$(PYTHON) -m pip download --quiet --only-binary=:all: --no-deps --dest $(WHEELHOUSE)/old-pip 'pip==20.2.4'
	touch $@

# A second numpy, older, for the fleet tests' node whose numpy differs from the rest.
$(WHEELHOUSE)/other-numpy/.complete:
	$(PYTHON) -m pip download --quiet --only-binary=:all: --no-deps --dest $(WHEELHOUSE)/other-numpy 'numpy==2.3.5'
	touch $@

$(COMPANION_WHEELS)/.complete:
	$(PYTHON) -m pip download --quiet --only-binary=:all: --no-deps --dest $(COMPANION_WHEELS) 'torchvision==0.29.0'
	$(PYTHON) -m pip download --quiet --only-binary=:all: --no-deps --dest $(COMPANION_WHEELS) 'torchvision==0.28.0'
	$(PYTHON) -m pip download --quiet --only-binary=:all: --no-deps --dest $(COMPANION_WHEELS)/cpu 'torchvision==0.28.0+cpu' \
		|| echo "torchvision 0.28.0+cpu is in none of this machine's pip sources: the doctor's test of a matching torchvision will say it was skipped"
	touch $@

$(BOOTSTRAP_WHEELS)/.complete:
	$(PYTHON) -m pip download --quiet --only-binary=:all: --dest $(BOOTSTRAP_WHEELS) click packaging psutil tomlkit uv
	touch $@

$(TORCH_VENV)/.complete: $(BIN)/torchup $(WHEELHOUSE)/.complete
	$(BIN)/torchup install --venv $(TORCH_VENV) --find-links $(WHEELHOUSE) --no-index --no-gpu --yes > /dev/null
	touch $@

test: $(BIN)/torchup $(WHEELHOUSE)/.complete $(WHEELHOUSE)/other-numpy/.complete $(BOOTSTRAP_WHEELS)/.complete $(TORCH_VENV)/.complete $(COMPANION_WHEELS)/.complete
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/shellcheck -s sh installer/bootstrap.sh tools/device_check.sh
	$(BIN)/shellcheck installer/action_setup.sh
	$(BIN)/python -m pytest -n auto --dist loadfile

# Built from a clean copy of the sources: setuptools would also pack a stale build/lib.
device-wheels:
	rm -rf $(DEVICE_WHEELS) build/device-source
	mkdir -p build/device-source
	cp -r pyproject.toml README.md LICENSE torchup installer diagnostics build/device-source/
	$(PYTHON) -m pip wheel --quiet --no-deps --wheel-dir $(DEVICE_WHEELS) ./build/device-source
	$(PYTHON) -m pip download --quiet --only-binary=:all: --dest $(DEVICE_WHEELS) click packaging psutil tomlkit
	rm -rf build/device-source

bench: $(BIN)/torchup $(WHEELHOUSE)/.complete
	$(BIN)/python tests/bench.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
