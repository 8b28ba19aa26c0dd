# hookrun: `make demo` runs the main scenario end to end, `make test` runs the whole suite.
# Both install what they need: a virtualenv in .venv and Debian packages (when root).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: all venv deps test lint unit integration demo bench clean
all: test

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

deps:
	bash build/system-deps.sh

lint: venv
	$(BIN)/ruff check hookrun tests bench
	$(BIN)/mypy

test: venv deps lint binary
	$(BIN)/pytest -q tests

unit: venv
	$(BIN)/pytest -q tests/unit

integration: venv deps
	$(BIN)/pytest -q tests/integration

demo: venv deps
	PATH="$(CURDIR)/$(BIN):$$PATH" bash demo/run.sh

bench: venv deps binary
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

# The shipped executables (build/build.sh): dist/hookrun, dist/hookrun-dir/, dist/hookrun-static
.PHONY: binary
binary: dist/.built
dist/.built: $(shell find hookrun -name '*.py') build/build.sh build/hookrun.spec build/requirements.txt
	$(MAKE) deps
	bash build/build.sh
	touch $@

# The hookrun image (Dockerfile.example, target hookrun: FROM scratch, the static build) from
# dist/, built with buildah: localhost/hookrun:VERSION and :latest (build/image.sh)
.PHONY: image
image: deps binary
	bash build/image.sh

clean:
	rm -rf $(VENV) dist pyi-work .pytest_cache .mypy_cache .ruff_cache
