# MBHealth delivery. `make help` lists the targets.
SHELL := /bin/bash
STACK ?= dev
BASE ?= origin/main
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
REQS := requirements.txt requirements-dev.txt $(wildcard apps/backend/requirements*.txt)
export STACK

.PHONY: help scan-venv frontend venv system-deps test test-unit synth diff tools cluster-local cluster-local-down up preview down cluster bench bench-images lint

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

# The real engine (tools/engine: built from Go modules, cached in ~/.cache/mbhealth/tools) and a
# local control plane (tools/local-cluster: etcd, kube-apiserver, controller-manager, scheduler,
# kwok). scripts/stack.sh sets the state backend, passphrase, kubeconfig and Docker engine.
tools: ## Build the Pulumi CLI, providers, Kubernetes control plane and kwok from Go modules (cached)
	bash tools/engine/build.sh

cluster-local: tools ## Start the local control plane (2 kwok nodes) + the Docker engine and registry
	bash scripts/docker-engine.sh start
	bash tools/local-cluster/cluster.sh start

cluster-local-down: ## Stop the local control plane
	bash tools/local-cluster/cluster.sh stop

up: venv ## Deploy STACK (default dev) and wait for every resource; KUBE_CONTEXT picks a cluster
	bash scripts/stack.sh up $(PULUMI_ARGS)

preview: venv ## pulumi preview --diff of STACK
	bash scripts/stack.sh preview $(PULUMI_ARGS)

down: venv ## Destroy STACK's resources (the stack and its state stay)
	bash scripts/stack.sh down $(PULUMI_ARGS)

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

preview-policy: venv policy-venv ## pulumi preview --diff of STACK with the policy pack
	bash scripts/stack.sh preview --policy-pack policy

bench-images: venv ## Benchmark image builds, sizes, start/stop times (Docker engine + registry) -> bench/images.md
	$(PY) scripts/bench_images.py
