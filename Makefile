# Two commands on a fresh machine: `make run` and `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin
UV := .tools/uv/bin/uv
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-unit test-integration test-e2e chromium redis apache nginx stack stack-stop loadtest lint bench clean fuzz

# Pinned uv in its own little venv, then the locked dependencies into .venv.
$(UV):
	$(PYTHON) -m venv .tools/uv
	.tools/uv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --quiet
	touch $@

install: $(VENV)/.installed

# Debian's Chromium for the browser tests (a browser download is impossible here).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Debian's Apache with mod_auth_openidc: the demo application that signs in through the portal
# (make run, the browser tests). Its service is kept from starting on port 80 while it installs
# (a policy-rc.d of our own, only if the machine has none). Never fails the build.
APACHE_READY := test -x /usr/sbin/apache2 && test -f /usr/lib/apache2/modules/mod_auth_openidc.so
apache:
	@$(APACHE_READY) || { \
	  own_policy=; \
	  if [ ! -e /usr/sbin/policy-rc.d ] && [ -w /usr/sbin ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1; \
	  fi; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      apache2 libapache2-mod-auth-openidc >/dev/null; } || true; \
	  if [ -n "$$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	  $(APACHE_READY) || echo "apache2 and libapache2-mod-auth-openidc could not be installed: make run continues without the demo application"; \
	}

run: install apache
	$(BIN)/python -m portal dev --host $(HOST) --port $(PORT)

# Debian's Redis server: the integration tests start their own, on a free port.
redis:
	@command -v redis-server >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

# Debian's nginx for the production shape (make stack, tests/integration/test_stack.py). Its
# service is kept from starting on port 80 while it installs (as for apache above); the stack runs
# nginx with a configuration of its own.
NGINX_READY := test -x /usr/sbin/nginx
nginx:
	@$(NGINX_READY) || { \
	  own_policy=; \
	  if [ ! -e /usr/sbin/policy-rc.d ] && [ -w /usr/sbin ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && own_policy=1; \
	  fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null; \
	  status=$$?; \
	  if [ -n "$$own_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	  exit $$status; \
	}

# The production shape on this machine: nginx on 127.0.0.1:8080 round-robin to two workers, the
# mail worker, PostgreSQL and Redis (deploy/stack.py; README "Production shape").
stack: install nginx redis
	$(BIN)/python -m deploy.stack up

stack-stop:
	$(BIN)/python -m deploy.stack down

# Applicants registering (15/s for 120 s, codes from a real SMTP sink) and 10 approvers deciding,
# through nginx on a stack of its own (free ports, database iacs_loadtest, its own Redis); then
# short rounds at rising rates for the saturation point (bench/loadtest.py). RATE= SECONDS= change
# the main round.
loadtest: install nginx redis
	$(BIN)/python -m bench.loadtest --saturation $(if $(RATE),--rate $(RATE)) $(if $(SECONDS),--seconds $(SECONDS))

test: install chromium redis apache nginx test-unit test-integration test-e2e

test-unit: install
	$(BIN)/pytest tests/unit -q

test-integration: install redis apache nginx
	$(BIN)/pytest tests/integration -q

test-e2e: install chromium apache
	$(BIN)/pytest e2e -q

# Bytes on the wire (in process), then speed and memory on PostgreSQL with wrk, then single
# sign-on through the demo application (see README).
bench: install chromium apache
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python -m bench.sizes
	$(BIN)/python -m bench.load
	$(BIN)/python -m bench.sso

# The generated-input tier (tests/fuzz): 12,000 hostile requests as four personas on a database
# and SMTP server of its own (PostgreSQL when PORTAL_DATABASE_URL says so); SEED= picks the run.
fuzz: install
	$(BIN)/python -m tests.fuzz --requests 12000 --seed $(or $(SEED),1)

# ruff, then the type checker (mypy --strict on portal/, pinned; settings in pyproject.toml).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check portal
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .tools .stack .pytest_cache .ruff_cache .hypothesis portal.db portal.db-wal portal.db-shm
