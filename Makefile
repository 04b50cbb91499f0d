# Two commands do everything: `make run` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime-stamp
# uv installs into .venv several times faster than pip (11 s against 34 s, cold);
# the platform's certificates, so that it trusts what pip trusts.
UV := $(BIN)/uv pip install --quiet --python $(BIN)/python --system-certs
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck browser docker-engine clean bench bench-notes bench-image lock

# The runtime, as the image installs it: requirements.lock (checked by hash), then
# awsme itself, editable. Enough for `make run`.
$(RUNTIME): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv
	$(UV) --require-hashes -r requirements.lock
	$(UV) --no-deps -e .
	touch $@

# The dev and test tools on top, for make test, lint and the benchmarks.
$(STAMP): $(RUNTIME)
	$(UV) -e '.[dev]'
	touch $@

## make lock: pin the image's runtime packages again, after a change to pyproject.toml
lock: $(STAMP)
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
		--no-annotate --custom-compile-command 'make lock' pyproject.toml -o requirements.lock

## make run: the card on http://127.0.0.1:8080 (backend on 8081), simulated EC2 metadata, no server needed
run: $(RUNTIME)
	$(BIN)/app -mode=standalone -metadata=simulated -host=127.0.0.1 -port=8080 -backend-port=8081

## make test: lint, type checks, then every test
test: lint typecheck browser docker-engine
	$(BIN)/pytest

# The browser tests drive Debian's Chromium; install it when we can (root with apt).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		  echo "make: installing Debian packages for the browser tests: chromium chromium-driver" && \
		  apt-get update -qq && apt-get install -y -qq chromium chromium-driver; } || \
		echo "make: chromium and chromium-driver are missing; the browser tests will skip"

# The container tests (tests/docker) need a Docker engine; start one when we can.
docker-engine:
	@tests/docker/start-engine

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

## make bench: every hot route beside nginx serving the same bytes (needs wrk, nginx-light, MariaDB)
bench: $(STAMP)
	@command -v wrk >/dev/null && command -v nginx >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq wrk nginx-light)
	$(BIN)/python bench/run.py

## make bench-notes: insert rate and list latency at 1,000 and 1,000,000 notes (MariaDB)
bench-notes: $(STAMP)
	$(BIN)/python bench/notes_bench.py

## make bench-image: image size, cold and warm build, start to ready per role (Docker engine)
bench-image: $(STAMP) docker-engine
	$(BIN)/python bench/image_bench.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .pytest_cache .ruff_cache
