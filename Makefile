# Keyflow — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# `make bench-http` serves Keyflow from a venv of its own with only what a deployment installs: the
# dev tools in .venv change what gets loaded (DRF imports requests, httpx its CLI's rich and pygments
# when they are installed), and so the memory the benchmark measures. One per backend, as deployed:
# only a PostgreSQL installation has the `postgres` extra.
comma := ,
BENCH_BACKEND := $(if $(findstring postgres,$(BENCH_ARGS)),postgres,sqlite)
BENCH_EXTRAS  := bench$(if $(filter postgres,$(BENCH_BACKEND)),$(comma)postgres)
BENCH_VENV    := .venv-bench-$(BENCH_BACKEND)
BENCH_STAMP   := $(BENCH_VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test test-e2e test-django6 lint format bench bench-http migrate seed clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Keyflow needs Python 3.11+")'
	@# pip, not python: a venv whose creation failed (Debian/Ubuntu without python3-venv)
	@# still has bin/python, and would otherwise never be re-created.
	test -x $(BIN)/pip || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo --once

# Web server and one worker in the foreground; Ctrl-C stops both. The worker is `manage.py worker`:
# qcluster under Keyflow's supervisor, which restarts it when it hangs (executions/supervisor.py).
# The worker runs in its own session so that only the trap signals it, once: a signal sent to the
# whole process group (Ctrl-C, timeout, CI cancelling a job) would reach it a second time, and a
# second signal cuts its graceful stop short. (The supervisor keeps qcluster in a session of its own
# in turn: a group-wide SIGTERM that reached qcluster's sentinel and workers would kill them at once
# and leave the cluster's parent hanging.)
# os.setsid() rather than setsid(1), which macOS lacks. HUP: closing the terminal stops it too.
# Debug by default for `make run` — and for the migrate and seed it runs first, so that all of them
# sign and encrypt with the same key (the development key under DEBUG; see config/keys.py): demo
# tasks queued by the seed are then readable by the worker, and demo secrets by the server.
run: export DJANGO_DEBUG := $(or $(DJANGO_DEBUG),1)
run: seed
	@echo "Keyflow on http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/)  — Ctrl-C stops the server and the worker"
	@$(BIN)/python -c 'import os, sys; os.setsid(); os.execv(sys.argv[1], sys.argv[1:])' \
		$(BIN)/python manage.py worker & QPID=$$!; \
	trap 'kill $$QPID 2>/dev/null; wait $$QPID 2>/dev/null' EXIT HUP INT TERM; \
	$(BIN)/python manage.py runserver $(HOST):$(PORT) --noreload

test: $(STAMP)
	$(BIN)/python -m pytest -m "not e2e" $(PYTEST_ARGS)

test-e2e: $(STAMP)
	$(BIN)/python -m pytest -m e2e $(PYTEST_ARGS)

# The suite on Django 6.0 in a venv of its own (.venv-django6); skips with a message without Python 3.12+.
test-django6:
	bash .ci/django6.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: migrate
	$(BIN)/python -m bench $(BENCH_ARGS)

# Keyflow's dependencies, gunicorn and the async load client (the `bench` extra) and nothing else.
$(BENCH_STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Keyflow needs Python 3.11+")'
	test -x $(BENCH_VENV)/bin/pip || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e ".[$(BENCH_EXTRAS)]"
	touch $(BENCH_STAMP)

# Keyflow's run path over HTTP (gunicorn + the worker, on a scratch database) beside a bare-Django
# floor served by the same gunicorn; bench/README.md. E.g. BENCH_ARGS="--runs 3", "--backend postgres",
# "--peer n8n" (after bench/peers/install_n8n.sh).
bench-http: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m bench.http $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .venv-bench-* .venv-django6 var/*.sqlite3* .pytest_cache .ruff_cache
