# MBHealth delivery. `make help` lists the targets.
SHELL := /bin/bash
STACK ?= dev
BASE ?= origin/main
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
REQS := requirements.txt requirements-dev.txt $(wildcard apps/backend/requirements*.txt)
export PULUMI_BACKEND_URL ?= file://$(CURDIR)/.pulumi-state

.PHONY: help scan-venv stack-select frontend venv system-deps test test-unit synth diff up preview cluster bench bench-images bench-reliability lint

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort

$(VENV_STAMP): $(REQS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV_STAMP) ## Create the virtualenv with the pinned Python packages

system-deps: ## Install the Debian packages the suites use (as root; reports otherwise)
	bash scripts/system-deps.sh services

FRONTEND_STAMP := apps/frontend/node_modules/.installed
$(FRONTEND_STAMP): apps/frontend/package-lock.json
	cd apps/frontend && npm ci --no-audit --no-fund
	touch $@

frontend: $(FRONTEND_STAMP) ## Frontend unit tests (vitest) and production build (dist/)
	cd apps/frontend && npm test && npm run build

SCAN_STAMP := .venv/scan/.installed
$(SCAN_STAMP): policy/requirements-scan.txt $(VENV_STAMP)
	$(PY) -c "import sys; sys.path.insert(0, '.'); from policy.scan import ensure_checkov; ensure_checkov()"
	touch $@

scan-venv: $(SCAN_STAMP) ## checkov's own virtualenv (.venv/scan; it pins packaging<24)

test: venv system-deps frontend scan-venv ## Run every test suite (mocks, apps, images when an engine is up)
	$(PY) -m pytest

test-unit: venv ## Only the Pulumi unit tests (mocks, seconds)
	$(PY) -m pytest tests/unit

synth: venv ## Write STACK's Kubernetes objects to build/manifests/STACK (no CLI, no cluster)
	$(PY) scripts/synth.py --stack $(STACK)

diff: venv ## Manifest diff of STACK against git ref BASE
	$(PY) scripts/manifest_diff.py --stack $(STACK) --base $(BASE)

stack-select: venv
	@command -v pulumi >/dev/null || { echo "the Pulumi CLI is required: https://www.pulumi.com/docs/install/ (or use 'make synth')"; exit 1; }
	pulumi login "$(PULUMI_BACKEND_URL)"
	pulumi stack select --create $(STACK)

preview: stack-select ## pulumi preview --diff on STACK (needs the Pulumi CLI)
	pulumi preview --diff --stack $(STACK)

up: stack-select ## pulumi up on STACK (Pulumi CLI, a Docker engine and a kube context; see `make cluster`)
	pulumi up --stack $(STACK)

cluster: ## Create a kind cluster wired to a local registry on localhost:5000
	bash scripts/kind-cluster.sh

bench: venv ## Benchmark synth and unit-suite times -> bench/synth.md
	$(PY) scripts/bench_synth.py

# Guardrails (policy/): the rules, the CrossGuard pack, the scanners.
.PHONY: policy scan policy-venv preview-policy

policy: venv ## Policy rules + CrossGuard pack on both stacks, checkov, workflow validation (tests/policy)
	$(PY) -m pytest tests/policy

scan: venv ## checkov on every stack's manifests and the Dockerfiles (waivers: policy/waivers.yaml)
	$(PY) -m policy.scan

policy-venv: ## The policy pack's virtualenv (policy/venv) for `--policy-pack policy`
	test -x policy/venv/bin/python || $(PYTHON) -m venv policy/venv
	policy/venv/bin/python -m pip install -q --disable-pip-version-check -r policy/requirements.txt

preview-policy: stack-select policy-venv ## pulumi preview --diff on STACK with the policy pack (needs the Pulumi CLI)
	pulumi preview --diff --stack $(STACK) --policy-pack policy

bench-images: venv ## Benchmark image builds, sizes, start/stop times (Docker engine + registry) -> bench/images.md
	$(PY) scripts/bench_images.py

bench-reliability: venv ## A release rolling under load, workers stopped with tasks in flight (Docker engine + registry) -> bench/reliability.md
	$(PY) scripts/bench_reliability.py
