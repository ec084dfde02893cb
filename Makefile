# One-command entry points; see README.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   := data/entries.parquet
CHROMIUM ?= /usr/bin/chromium

.PHONY: up install lock data model test lint chromium promtool bench load clean

## up: install, generate data and train a model if no champion is registered, then serve on 127.0.0.1:8000
up: model
	$(BIN)/targeting db upgrade
	$(BIN)/targeting history load --data $(DATA)
	@$(BIN)/targeting keys local --file data/admin.key
	@echo "MLflow UI: $(BIN)/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --port 5000 --workers 1"
	@echo "  (the desk links runs to $${TARGETING_MLFLOW_UI_URL:-http://127.0.0.1:5000}: set TARGETING_MLFLOW_UI_URL for another port)"
	@echo "Reviewer's desk: http://127.0.0.1:8000/desk (sign in with the key above, or a reviewer key)"
	$(BIN)/targeting serve --host 127.0.0.1 --port 8000

install: $(VENV)/.installed

# Every package from the lock, each checked against its hashes; then the project itself, built with the locked
# setuptools (no build isolation: nothing unhashed is fetched).
$(VENV)/.installed: pyproject.toml requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

## lock: pin every dependency with its hashes from pyproject.toml (requirements/: the service's, training's and the
## developer's), keeping the pins already there; `make lock UPGRADE=--upgrade` moves to the newest releases
LOCK = $(BIN)/uv pip compile --quiet --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes \
	--custom-compile-command "make lock" $(UPGRADE)
BUILD_REQUIRES = $(PYTHON) -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')"

lock: install
	$(BUILD_REQUIRES) | $(LOCK) pyproject.toml - --extra train --group dev -o requirements/dev.txt
	$(BUILD_REQUIRES) | $(LOCK) pyproject.toml - --extra train -c requirements/dev.txt -o requirements/train.txt
	$(BUILD_REQUIRES) | $(LOCK) pyproject.toml - -c requirements/dev.txt -o requirements/service.txt

data: $(DATA)

$(DATA): | install
	$(BIN)/targeting generate --entries 200000 --seed 7 --out $(DATA)

model: install data
	@$(BIN)/targeting champion 2>/dev/null || $(BIN)/targeting train --data $(DATA)

## test: lint, type-check and run the whole test suite (the browser tests drive Debian's Chromium; the alert rules
## are checked by Debian's promtool)
test: install lint chromium promtool
	$(BIN)/pytest

# the browser tests' Chromium: Debian's package, never a browser downloaded by a test tool
chromium:
	@command -v $(CHROMIUM) >/dev/null || { apt-get update -q && apt-get install -y -q chromium; }

# Prometheus's own checker of its config and unit tester of the alert rules (deploy/prometheus)
promtool:
	@command -v promtool >/dev/null || { apt-get update -q && apt-get install -y -q --no-install-recommends prometheus; }

lint: install
	$(BIN)/ruff check features model decisions training service cli client tests bench
	$(BIN)/ruff format --check features model decisions training service cli client tests bench
	$(BIN)/mypy

## bench: every benchmark into bench/results, then the summary table (bench/results/summary.md); about 50 minutes
bench: install model
	@mkdir -p bench/results
	$(BIN)/python bench/treeshap.py --model $$($(BIN)/python bench/champion.py) --json bench/results/treeshap.json
	$(BIN)/python bench/treeshap.py --trees 500 --leaves 63 --json bench/results/treeshap-500x63.json
	$(BIN)/python bench/service_path.py --json bench/results/service_path.json
	$(BIN)/python bench/http_load.py --json bench/results/http.json
	$(BIN)/python bench/overload.py --json bench/results/overload.json
	$(BIN)/python bench/batch.py --json bench/results/batch.json
	$(BIN)/python bench/shape.py --json bench/results/shape.json
	$(BIN)/python bench/defaults.py --json bench/results/defaults.json
	$(BIN)/python bench/labels.py
	$(BIN)/python bench/desk.py --json bench/results/desk.json
	$(BIN)/python bench/desk_performance.py --json bench/results/desk_performance.json
	$(BIN)/python bench/patterns.py --json bench/results/patterns.json
	$(BIN)/python bench/summary.py

## load: scoring over HTTP against the same app's bare endpoint (wrk; `apt-get install wrk`), about 10 minutes
load: install model
	$(BIN)/python bench/http_load.py

clean:
	rm -rf $(VENV) data mlruns/mlflow.db mlruns/artifacts
