# Two commands matter: `make demo` and `make test` (see README). The rest are helpers.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt constraints.txt | sha1sum | cut -c1-12)
DEMO_ENV := DJANGO_DEBUG=1
TEST_ENV := DJANGO_SECRET_KEY=$${DJANGO_SECRET_KEY:-tests-only-secret-key-not-for-production-use-0000} JOBS_IN_PROCESS_THREAD=0 DJANGO_SSL_REDIRECT=0 DJANGO_SECURE_COOKIES=0 DB_CONN_MAX_AGE=0

.PHONY: demo test install lint format serve worker bench clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"' || exit 1
	@if ! $(PYTHON) -m venv --help >/dev/null 2>&1 || ! $(PYTHON) -c 'import ensurepip' >/dev/null 2>&1; then \
		echo "python3-venv is missing; installing it (needs root)"; \
		apt-get update -qq && apt-get install -y -qq python3-venv python3.11-venv || \
		{ echo "Install python3-venv (apt-get install python3.11-venv) and run make again."; exit 1; }; fi
	@if [ ! -f /usr/include/ldap.h ] || [ ! -f /usr/include/sasl/sasl.h ]; then \
		echo "python-ldap needs the OpenLDAP and SASL headers; installing them (needs root)"; \
		apt-get update -qq && apt-get install -y -qq libldap2-dev libsasl2-dev || \
		{ echo "Install libldap2-dev and libsasl2-dev (apt-get install libldap2-dev libsasl2-dev) and run make again."; exit 1; }; fi
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt -c constraints.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

demo: install
	$(DEMO_ENV) $(PY) manage.py migrate --noinput
	$(DEMO_ENV) $(PY) manage.py demo
	@echo "Serving on http://127.0.0.1:8000 (Ctrl-C to stop)"
	$(DEMO_ENV) $(PY) manage.py runserver 127.0.0.1:8000

test: install
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

serve: install
	$(DEMO_ENV) $(PY) manage.py runserver 127.0.0.1:8000

worker: install
	$(PY) -m celery -A config worker -Q ingest,nlp,qc,export,default --loglevel=INFO

clean:
	rm -rf var/ .pytest_cache
