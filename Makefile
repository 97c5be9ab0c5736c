# The two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first,
# from the lock files (exact versions with hashes), so every machine runs what CI ran.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The lock files are resolved for the Python of the Docker image and CI (CPython 3.11, Linux x86_64).
LOCK_TARGET := --python-version 3.11.7 --python-platform x86_64-manylinux_2_28 --generate-hashes --quiet

.PHONY: demo test lint install lock

# The editable install's compat mode puts the clone itself on the path, so the development tools (tools/, which
# are not in the wheel) import too: `rmbot demo`, `rmbot chat`, `rmbot bench ...`.
$(BIN)/rmbot: pyproject.toml requirements-dev.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps --config-settings editable_mode=compat -e .
	touch $(BIN)/rmbot

install: $(BIN)/rmbot

demo: install
	$(BIN)/rmbot demo

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# After changing dependencies in pyproject.toml: re-resolve both lock files (keeps existing pins where they fit;
# `make lock UPGRADE=--upgrade` moves everything to the newest releases the bounds allow).
lock: install
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml $(LOCK_TARGET) $(UPGRADE) -o requirements.lock \
		--custom-compile-command "make lock  (runtime only: the Docker image)"
	$(BIN)/uv pip compile pyproject.toml --extra dev -c requirements.lock $(LOCK_TARGET) -o requirements-dev.lock \
		--custom-compile-command "make lock  (runtime + dev: the development venv, CI)"
