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

# The shipped executables (build/build.sh): dist/hookrun, dist/hookrun-dir/, dist/hookrun-static.
# ARCH=arm64: the same three for aarch64 in dist/arm64/, built under qemu-user in a cached
# Debian arm64 root (build/arm64-build.sh; the first build takes a quarter of an hour).
ARCH    ?= amd64
SOURCES := $(shell find hookrun -name '*.py') build/build.sh build/hookrun.spec build/requirements.txt
.PHONY: binary binary-amd64 binary-arm64
binary: binary-$(ARCH)
binary-amd64: dist/.built
binary-arm64: dist/arm64/.built
dist/.built: $(SOURCES)
	$(MAKE) deps
	bash build/build.sh
	touch $@
dist/arm64/.built: $(SOURCES) build/arm64-root.sh build/arm64-build.sh tests/e2e/src/app.c
	bash build/arm64-build.sh
	touch $@

# The hookrun image (Dockerfile.example, target hookrun: FROM scratch, the static build) from
# dist/, built with buildah: localhost/hookrun:VERSION and :latest (build/image.sh)
.PHONY: image
image: deps binary
	bash build/image.sh

# Dockerfile.example built for linux/arm64 from source (build stage under qemu-user) and its
# images run under qemu-user (build/check-arm64-image.sh; slow, not part of `make test`)
.PHONY: check-arm64-image
check-arm64-image: deps
	bash build/check-arm64-image.sh

clean:
	rm -rf $(VENV) dist pyi-work .pytest_cache .mypy_cache .ruff_cache
