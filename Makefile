# The two commands of the README, and their set-up. Everything installs into .venv from the lock file,
# byte-compiled at install time (a machine with PYTHONDONTWRITEBYTECODE=1 would otherwise compile the
# whole stack from source in every process: 25 s instead of 10 s to import it).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo cluster-demo cluster-demo-test test bench bench-cluster lint spark-jars kafka-jars chromium ui up down cluster-up cluster-down clean

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) spark-jars kafka-jars chromium

## headless Chromium (Debian's package) for the tests that open the report and Data Docs in a browser
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

## Delta jars for PLATFORM_ENGINE=local (Apache Spark)
spark-jars:
	@bash scripts/fetch_spark_jars.sh

## the Apache Kafka broker (KRaft) the sandbox and the tests run
kafka-jars:
	@bash scripts/fetch_kafka.sh

## demo: sandbox sources -> bronze -> silver -> gold on the embedded defaults, then a summary
demo: install
	$(BIN)/platform demo

## cluster-demo: the same path on a Spark cluster + Spark Connect, SeaweedFS S3 and a PostgreSQL instance
cluster-demo: install
	$(BIN)/platform demo --topology cluster

## cluster-demo-test: the integration tests of the demo's whole path on that topology against an embedded
## run, and of `platform bench-cluster` at a small scale (about 13 minutes; marker cluster_demo, left out
## of `make test`)
cluster-demo-test: install
	$(BIN)/pytest -m cluster_demo platform_assets_tests/test_spark_cluster.py platform_assets_tests/test_benchmark_cluster.py

## test: the whole test suite (starts and stops every service it needs)
test: install
	$(BIN)/pytest

## bench: rows/s, wall time and peak memory per layer at several scales, written to bench/orders.json
bench: $(STAMP)
	$(BIN)/platform bench

## bench-cluster: the order path on the cluster topology (1 and 2 workers) next to Sail and local Spark, about
## 1M events, written to bench/cluster.json (docs/deployment.md)
bench-cluster: install
	$(BIN)/platform bench-cluster

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

## ui: the Dagster UI and daemon on the demo's home (with the project's dagster.yaml) and lake; Ctrl-C stops
ui: $(STAMP)
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/platform ui

## cluster-up / cluster-down: a Spark standalone cluster + Spark Connect server on loopback (docs/deployment.md)
cluster-up: $(STAMP) spark-jars
	$(BIN)/sandbox cluster-up

cluster-down: $(STAMP)
	$(BIN)/sandbox cluster-down

## up: every sandbox source, the traffic generator, the Dagster UI and daemon (all sensors running); Ctrl-C stops
up: install
	$(BIN)/platform up

## down: stop what `make up` started (from another shell)
down: $(STAMP)
	$(BIN)/platform down

clean:
	rm -rf .lake .dagster_home .sandbox .reports .live .cluster_demo
