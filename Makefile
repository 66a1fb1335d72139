# Two commands: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PORT

.PHONY: run test lint format lock install migrate demo clean

$(VENV)/.installed: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

# The web app, a Celery worker and beat, on the embedded defaults (SQLite, a
# filesystem broker, mail kept under var/outbox and shown at /outbox/) unless
# DATABASE_URL, CELERY_BROKER_URL or EMAIL_URL say otherwise. Ctrl-C stops all.
run: export DEBUG ?= 1
# Links in emails point at the port the web server listens on.
run: export SITE_URL ?= http://127.0.0.1:$(PORT)
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo "Open http://127.0.0.1:$(PORT)/  (frontdesk / physician / nurse / admin, password clinic-demo)"
	exec honcho -f Procfile.dev start

# The whole suite: lint, the architecture contracts (.importlinter), types (mypy with
# django-stubs; config in pyproject.toml), migrations in step with models, compose
# file, tests.
test: export DEBUG ?= 1
test: install
	ruff check .
	ruff format --check .
	lint-imports
	DEBUG=1 mypy clinic patients procedures
	$(PY) manage.py makemigrations --check --dry-run
	check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	.ci/pytest-in-two $(PYTEST_ARGS)

lint:
	ruff check . && ruff format --check .

format:
	ruff check --fix . && ruff format .

# Re-pin requirements.txt after editing requirements.in.
lock:
	python3 -m venv /tmp/clinic-lock-venv
	/tmp/clinic-lock-venv/bin/pip install --quiet -r requirements.in
	{ echo "# Generated from requirements.in with 'make lock' (pip freeze): every dependency pinned."; \
	  /tmp/clinic-lock-venv/bin/pip freeze; } > requirements.txt
	rm -rf /tmp/clinic-lock-venv

clean:
	rm -rf var/ .pytest_cache staticfiles
