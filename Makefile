# plugkit: `make demo` bakes the default answers and runs the service; `make test` runs every test.
# Both bootstrap their own virtual environment with uv (installed into .tools/ when missing).

PYTHON ?= python3
PORT ?= 8000
HOST ?= 127.0.0.1
# One test worker more than cores: a bake's suite spends about a third of its time waiting
# (on timeouts it tests, on servers), and the extra worker runs in those waits.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 2) + 1 )))

TOOLS := .tools
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/$(TOOLS)/bin/uv)
VENV := .venv
DEMO_DIR := demo
DEMO_PROJECT := $(DEMO_DIR)/my_service
# The template repo's own Python (the baked project's is checked in every bake).
TEMPLATE_CODE := hooks tests bench docs/gen_settings.py examples

.PHONY: demo test lint audit bench lock clean

$(CURDIR)/$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv

# Compiled bytecode up front: tests start many Python processes, and a machine that sets
# PYTHONDONTWRITEBYTECODE would otherwise compile every library again in each of them.
$(VENV)/.installed: requirements-dev.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(VENV)/bin/python -r requirements-dev.txt
	touch $@

# The demo bake gets its own environment, installed from its own pyproject.toml. The
# post-generation hook locks the bake's dependencies with this uv (uv.lock).
demo: export PLUGKIT_UV := $(UV)
demo: $(VENV)/.installed
	rm -rf $(DEMO_DIR)
	$(VENV)/bin/cookiecutter --no-input --output-dir $(DEMO_DIR) .
	$(UV) venv --quiet --python $(PYTHON) $(DEMO_PROJECT)/.venv
	$(UV) pip install --quiet --python $(DEMO_PROJECT)/.venv/bin/python -e $(DEMO_PROJECT)
	@echo
	@echo "Demo service (SQLite, in-process broker) starting on http://$(HOST):$(PORT)"
	@echo "  API docs:  http://$(HOST):$(PORT)/docs"
	@echo "  Health:    http://$(HOST):$(PORT)/health"
	@echo "Stop it with Ctrl-C."
	@echo
	cd $(DEMO_PROJECT) && DATABASE_URL= TASK_BROKER=inprocess PUBLIC_BASE_URL=http://$(HOST):$(PORT) \
		.venv/bin/uvicorn --factory app.main:create_app --no-proxy-headers --host $(HOST) --port $(PORT)

# Screenshots of the sign-in page (both languages, phone and desktop widths) for
# docs/pages.md: a default bake's own page test takes them in Debian's chromium. Korean
# text needs a Korean font on the machine (Debian: fonts-nanum or fonts-noto-cjk).
.PHONY: screenshots
SCREENSHOT_BAKE := $(or $(TMPDIR),/tmp)/plugkit-screenshots
screenshots: export PLUGKIT_UV := $(UV)
screenshots: $(VENV)/.installed
	rm -rf $(SCREENSHOT_BAKE)
	$(VENV)/bin/cookiecutter --no-input --output-dir $(SCREENSHOT_BAKE) .
	cd $(SCREENSHOT_BAKE)/my_service && PAGE_SCREENSHOTS=$(CURDIR)/docs/images \
		$(CURDIR)/$(VENV)/bin/python -m pytest -q -p no:cacheprovider \
		tests/test_pages_layout.py -k screenshots
	rm -rf $(SCREENSHOT_BAKE)

# Finds which database and Python lanes this machine can run (tests/lanes.py says which it
# skips and why). Each bake's hook, and each Python lane's environment, use this uv.
test: export PATH := $(dir $(UV)):$(PATH)
test: export PLUGKIT_UV := $(UV)
test: $(VENV)/.installed
	$(VENV)/bin/python -m tests.lanes --report
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist load --maxschedchunk 1 tests

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check $(TEMPLATE_CODE)
	$(VENV)/bin/ruff format --check $(TEMPLATE_CODE)
	$(VENV)/bin/mypy hooks tests
	$(VENV)/bin/bandit -q -r $(TEMPLATE_CODE) --severity-level medium

# Known vulnerabilities in the pinned test environment. Not part of `make test`: it asks an
# advisory service over the network.
audit: $(VENV)/.installed
	$(VENV)/bin/pip-audit --disable-pip --no-deps --strict --progress-spinner off -r requirements-dev.txt

# Every benchmark in turn, each on a bake of its own (bench/README.md: what each measures).
# bench_server, last, drives both server databases (PostgreSQL, MariaDB) with wrk pinned to
# CPU 1 and the servers to CPU 0: it needs Debian's wrk and two CPUs, and says so if missing.
BENCHMARKS := bench_mixin bench_cold_start bench_users_me bench_notifications bench_load bench_server
bench: export PATH := $(dir $(UV)):$(PATH)
bench: $(VENV)/.installed
	set -e; for name in $(BENCHMARKS); do \
		echo "== $$name"; $(VENV)/bin/python bench/$$name.py; \
	done

# Re-pin the template's test environment after editing requirements-dev.in.
lock: | $(UV)
	$(UV) pip compile --quiet --python-version 3.11 requirements-dev.in -o requirements-dev.txt

clean:
	rm -rf $(VENV) $(VENV)-* $(TOOLS) $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache

# `docker compose up` for real on four bakes (tests/docker/check_stacks.py, lane report at
# the end). tests/docker/setup.sh first installs what is missing: Debian's docker.io (dockerd
# started in the background), the Compose v2 binary, local stand-ins for the images.
.PHONY: test-docker
test-docker: export PATH := $(dir $(UV)):$(PATH)
test-docker: $(VENV)/.installed
	bash tests/docker/setup.sh
	PLUGKIT_UV=$(UV) PLUGKIT_COMPOSE=$(CURDIR)/.tools/docker/docker-compose \
		$(VENV)/bin/python -m pytest -p tests.docker.report -p no:cacheprovider \
		tests/docker/check_stacks.py
