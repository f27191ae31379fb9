# Two commands: `make demo` and `make test`. Both create .venv if missing.
#
# torch is installed first, pinned, so pip never resolves the newest torch
# (with several GB of CUDA packages) as a dependency. With a GPU, override it:
#   make demo TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"

PYTHON     ?= $(shell command -v python3.11 || command -v python3)
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?=

BIN := $(VENV)/bin

# No telemetry and no downloads at run time.
export PREFECT_SERVER_ANALYTICS_ENABLED = false
export GX_ANALYTICS_ENABLED = false
export HF_HUB_OFFLINE = 1

.PHONY: demo test test-fast lint install clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

demo: install
	$(BIN)/synth run pipelines/adult_tvae.yaml

# pytest exits 5 when it collected no tests: that is a failure here, not a pass.
test: install
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# The fast tier: everything but whole pipelines and other `slow` tests (under 2 minutes here; tests/conftest.py).
test-fast: install
	@$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-fast: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# ruff (configured in pyproject.toml); `make test` runs it too (tests/unit/test_lint.py).
lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache data/published
