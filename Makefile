# Two commands set everything up on a fresh machine:
#   make demo   create .venv, install pinned dependencies, run the main job on embedded defaults
#   make test   the test suite without the tests marked slow (under 10 minutes; CI runs it, then make test-slow)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow bench lock clean

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(STAMP): pyproject.toml requirements.lock
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium (the analyst page's browser test)"; \
	  $(SUDO) apt-get install -y -qq chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "installing Debian's postgresql (the history store's server tests)"; \
	  $(SUDO) apt-get install -y -qq postgresql >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq postgresql; }; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev,scale]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/contraband demo

test: $(STAMP)
	$(BIN)/pytest -m "not slow"

test-slow: $(STAMP)
	$(BIN)/pytest -m slow

bench: $(STAMP)
	$(BIN)/python bench/generate_world.py
	$(BIN)/python bench/kcs.py
	$(BIN)/python bench/train_world.py
	$(BIN)/python bench/history_serving.py
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/service.py
	$(BIN)/python bench/batch.py
	$(BIN)/python bench/compiled.py

# Re-resolve the pins from pyproject.toml (needs the registry); review the diff before committing.
lock:
	rm -rf /tmp/contraband-lock && $(PYTHON) -m venv /tmp/contraband-lock
	/tmp/contraband-lock/bin/pip install --quiet '.[dev,scale]'
	{ echo "# Pinned versions of every dependency (pip constraints file), resolved on Python 3.11 / Linux."; \
	  echo "# Regenerate: make lock"; \
	  /tmp/contraband-lock/bin/pip freeze --exclude-editable | grep -v '^contraband'; } > requirements.lock

clean:
	rm -rf $(VENV) outputs model-cache .pytest_cache history.db history.db-wal history.db-shm
