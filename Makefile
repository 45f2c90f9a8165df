# One entry point for people and CI (like node_exporter's `make all`).
#   make demo    set everything up, then run the local demo
#   make check   set everything up, then run every check: lint, types, drift, tests
# Every install step lives here, so a clean clone on a fresh machine needs nothing else.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo check setup system-deps python-deps kafka-jars lint test docs bench bench-json bench-replay bench-agent clean

demo: setup
	$(BIN)/netdown-demo

check: setup lint test

setup: system-deps python-deps kafka-jars

# Java 17 and Maven fetch and run the Kafka broker; setpriv (util-linux) ties it to its parent.
# prometheus (with promtool) and prometheus-alertmanager (amtool) check and unit-test the alert rules.
system-deps:
	@if ! command -v java >/dev/null || ! command -v mvn >/dev/null || ! command -v setpriv >/dev/null \
		|| ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null || ! command -v amtool >/dev/null; then \
		echo "installing Java 17, Maven, util-linux, Prometheus and Alertmanager with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			openjdk-17-jre-headless maven util-linux prometheus prometheus-alertmanager >/dev/null; \
	fi

python-deps: $(STAMP)

MEMBERS := core agent stream dashboards tools

# Every member editable (one import path per module: its src folder), and the root's dev group.
$(STAMP): pyproject.toml $(MEMBERS:%=%/pyproject.toml)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "netdown needs Python >= 3.11 as $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv --clear $(VENV)  # afresh: a distribution renamed or split must not linger
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(MEMBERS:%=-e ./%) --group dev
	touch $(STAMP)

kafka-jars: python-deps
	@$(BIN)/netdown-kafka fetch >/dev/null

lint: python-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m netdown.wire_reference --check
	$(BIN)/netdown-dashboards generate --check
	$(BIN)/netdown-dashboards lint
	$(BIN)/python -m netdown.dashboards.rules --check
	$(BIN)/python dashboards/prometheus/tests/make_series.py --check

test: python-deps
	$(BIN)/pytest

# Regenerate what is generated from code (the wire contract reference, the Grafana dashboards, the Prometheus
# rules and Grafana alerting from netdown.dashboards.config, the promtool week of noisy series); `lint` fails when
# it drifts.
docs: python-deps
	$(BIN)/python -m netdown.wire_reference
	$(BIN)/netdown-dashboards generate
	$(BIN)/python -m netdown.dashboards.rules
	$(BIN)/python dashboards/prometheus/tests/make_series.py

# Every benchmark side by side against one local broker (minutes); BENCH_ARGS="--events 50000" for a quick run.
bench: setup
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

bench-json: python-deps
	$(BIN)/python -m benchmarks.json_decode

bench-replay: python-deps
	$(BIN)/python -m benchmarks.replay_throughput

bench-agent: setup
	$(BIN)/python -m benchmarks.agent_footprint

clean:
	rm -rf $(VENV) .netdown .mypy_cache .ruff_cache .pytest_cache .hypothesis
