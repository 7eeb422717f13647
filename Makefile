# Two commands on a fresh machine: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
PORT ?= 8000
FLOWER_PORT ?= 5555
# Email worker processes (honcho's concurrency): one per core, as Python runs one thread at a time.
WORKER_PROCESSES ?= $(shell nproc 2>/dev/null || echo 1)
# honcho gives each process its own PORT, so the link base is fixed here, once, for all of them.
PUBLIC_BASE_URL ?= http://localhost:$(PORT)
export PORT FLOWER_PORT PUBLIC_BASE_URL

# Local stand-ins start only for what the environment does not configure.
STANDINS := $(if $(REDIS_URL),,redis) $(if $(EMAIL_URL),,mail)

.PHONY: run wait test bench mutate install lint format lock clean

# Local use: DEBUG on (a key kept in var/secret_key, the mail page), web and Flower on loopback.
# Production sets DEBUG=0 and a SECRET_KEY of its own (README, Configuration).
run test: export DEBUG ?= 1
run: export BIND_ADDRESS ?= 127.0.0.1
run: export FLOWER_ADDRESS ?= 127.0.0.1

$(BIN)/.installed: requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --quiet --require-hashes --python $(BIN)/python requirements-dev.lock
	@touch $@

install: $(BIN)/.installed

# A port that is taken stops `make run` before anything starts. honcho puts each process's name
# before its lines, and when one process ends it stops the others: `make run` then fails with
# that process's status, while Ctrl-C or a SIGTERM (`kill %1` after `make run &`) ends it
# quietly (the trap keeps this shell alive to read honcho's status: 130 or 143).
run: install
	@$(BIN)/python -m shared.devservices.ports $(STANDINS)
	@mkdir -p var/mail
	$(BIN)/python manage.py migrate --noinput
	@$(BIN)/python -m shared.devservices.banner $(STANDINS)
	@trap : INT TERM; PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -p $(PORT) -c worker-email=$(WORKER_PROCESSES) \
		web worker-email worker-security worker-webhooks relay beat flower $(STANDINS) 2>&1; \
		status=$$?; case $$status in 130|143) exit 0;; *) exit $$status;; esac

# Until the web server that `make run &` is starting answers /readyz, at most WAIT_TIMEOUT
# seconds (the first run installs everything before it starts anything). On the machine's
# Python: the virtual environment may not exist yet.
wait: export WAIT_TIMEOUT ?= 300
wait:
	@$(PYTHON) -m shared.devservices.ready

test: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

# Benchmarks print markdown tables and keep raw numbers under bench/results/.
bench: install
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/uv pip sync --quiet --require-hashes --python $(BIN)/python requirements-bench.lock
	@touch $(BIN)/.installed
	$(BIN)/python -m bench.run_all

# Mutation testing of the security core (mutmut, [tool.mutmut] in pyproject.toml): each
# surviving mutant is a rule no test guards, unless docs/mutation-testing.md shows it equivalent:
# the report at the end fails on any other survivor. Not part of `make test`.
# Always on SQLite: each mutant's tests get a copy of one database migrated here first, in
# memory (/dev/shm) where the machine has it: a test's commits then wait for no disk.
MUTATE_VAR = $(if $(wildcard /dev/shm),/dev/shm/resetpass-mutants,$(CURDIR)/var/mutants)
mutate: export DEBUG = 1
mutate: export VAR_DIR = $(MUTATE_VAR)
mutate: install
	rm -rf mutants $(MUTATE_VAR)
	DATABASE_URL=sqlite:///$(MUTATE_VAR)/template.sqlite3 $(BIN)/python manage.py migrate -v 0
	DATABASE_URL= MUTATION_DB_TEMPLATE=$(MUTATE_VAR)/template.sqlite3 $(BIN)/mutmut run
	$(BIN)/python -m tests.mutation_report

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Re-pin after editing pyproject.toml dependencies.
lock: install
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -q -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -q -o requirements-dev.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra bench --python-version 3.11 --generate-hashes -q -o requirements-bench.lock

clean:
	rm -rf $(VENV) var .pytest_cache

# Screenshots of every page at phone and desktop width into docs/screenshots/ (needs chromium).
.PHONY: screenshots
screenshots: install
	$(BIN)/python -m docs.screenshots.take
