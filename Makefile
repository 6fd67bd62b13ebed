# One command per job; each sets up what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup setup-serve serve test lint unit bench soak models clean setup-federated federated-demo test-federated test-mobile mobile-golden

# The serving environment alone (no torch): what `make serve` needs.
$(VENV)/.serve-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[serve]'
	touch $@

# Everything: serving, training, export and the test tools.
$(VENV)/.all-installed: pyproject.toml $(VENV)/.serve-installed
	$(BIN)/python -m pip install --quiet -e '.[serve,train,dev]'
	touch $@

setup-serve: $(VENV)/.serve-installed
setup: $(VENV)/.all-installed

serve: setup-serve
	$(BIN)/mealimpact serve --host $(HOST) --port $(PORT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy vision glucose_model serving training mealimpact

unit: setup
	$(BIN)/pytest -q tests/unit

test: lint
	$(BIN)/pytest -q
	$(MAKE) test-mobile

# The TypeScript reference client (mobile/) against the golden cases: skipped where node and npm are absent.
# onnxruntime-node ships its CPU binaries; ONNXRUNTIME_NODE_INSTALL=skip stops its install script fetching
# CUDA ones from NuGet (only the npm registry needs to be reachable).
test-mobile:
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		cd mobile && { [ node_modules/.installed -nt package-lock.json ] || \
			{ ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund && touch node_modules/.installed; }; } && \
		npm test; \
	else echo "test-mobile: skipped, node and npm not found (Debian: apt-get install nodejs npm)"; fi

# Re-run after any model in models/ changes: the golden cases the JavaScript client must reproduce.
mobile-golden: setup
	$(BIN)/mealimpact export mobile-golden --out mobile/golden

bench: setup
	$(BIN)/python -m bench

# A bounded soak on loopback: a fresh server under a steady request mix; prints requests, errors,
# p50/p99 and the server's RSS per minute, then checks /metrics counted every request.
SOAK_MINUTES ?= 2
SOAK_CONCURRENCY ?= 8
soak: setup-serve
	$(BIN)/python scripts/soak.py --minutes $(SOAK_MINUTES) --concurrency $(SOAK_CONCURRENCY)

# Federated training (Flower) in its own environment: flwr pins an older FastAPI than `serve`,
# so it never shares .venv. No serve extra here; pytest and hypothesis for its tests.
FED_VENV := .venv-federated
$(FED_VENV)/.federated-installed: pyproject.toml
	test -x $(FED_VENV)/bin/python || $(PYTHON) -m venv $(FED_VENV)
	$(FED_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FED_VENV)/bin/python -m pip install --quiet -e '.[train,federated]' 'pytest>=8' 'pytest-timeout>=2.3' 'hypothesis>=6.100'
	touch $@

setup-federated: $(FED_VENV)/.federated-installed

federated-demo: setup-federated
	$(FED_VENV)/bin/mealimpact federated demo --sites 3 --out runs/federated-demo

test-federated: setup-federated
	$(FED_VENV)/bin/pytest -q tests/unit/test_federated_*.py tests/integration/test_federated_*.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
