# MBHealth delivery. `make help` lists the targets and the variables they take.
SHELL := /bin/bash
# Variables (`make <target> NAME=value`); `make help` shows them with their defaults.
STACK_DEFAULT := dev
BASE_DEFAULT := origin/main
STACK ?= $(STACK_DEFAULT)
BASE ?= $(BASE_DEFAULT)
EXIT_CODE ?=
REGISTRY_PORT ?= 5000
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
REQS := requirements.txt requirements-dev.txt $(wildcard apps/backend/requirements*.txt)
# synth/diff need only the program's runtime: a small venv from requirements.txt alone,
# installed by uv (requirements-bootstrap.txt) in seconds.
SYNTH_VENV := $(VENV)/synth
SYNTH_PY := $(SYNTH_VENV)/bin/python
SYNTH_STAMP := $(SYNTH_VENV)/.installed
export STACK

.PHONY: help scan-venv frontend venv synth-venv system-deps test test-serial test-unit synth diff tools cluster-local cluster-local-down stack-file up preview down cluster bench bench-images bench-reliability bench-e2e lint

help: ## List the targets and the variables they take
	@echo "Targets:"
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort | awk -F '\t' '{printf "  %-15s %s\n", $$1, $$2}'
	@echo "Variables (make <target> NAME=value):"
	@echo "  STACK=<stack>    the stack of synth, diff, preview, up (Pulumi.<stack>.yaml)   default: $(STACK_DEFAULT)"
	@echo "  BASE=<git ref>   what make diff compares the working tree with                default: $(BASE_DEFAULT)"
	@echo "  EXIT_CODE=1      make diff exits 1 when something changed (as git diff --exit-code)  default: unset"
	@echo "  REGISTRY_PORT=<port>  make cluster's registry port (macOS 12+: 5000 is AirPlay's)  default: 5000"
	@echo "  PYTHON=<python>  the interpreter the virtualenvs are made from                 default: python3"
	@echo "  KUBE_CONTEXT=<context>  the cluster of up, preview, down (default: the local control plane)"
	@echo "  PULUMI_ARGS=<args>  extra pulumi arguments for up, preview, down (e.g. --expect-no-changes)"

$(VENV_STAMP): $(REQS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV_STAMP) ## Create the virtualenv with the pinned Python packages

system-deps: ## Install the Debian packages the suites use (as root; reports otherwise)
	bash tools/machine/system-deps.sh services

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

test: venv system-deps frontend scan-venv ## Run every test suite (the e2e suite beside the others: tools/suites/side_by_side.py)
	$(PY) tools/suites/side_by_side.py

test-serial: venv system-deps frontend scan-venv ## Every suite in one pytest session (PYTEST_ADDOPTS may name the paths, in order)
	$(PY) -m pytest

test-unit: venv ## Only the Pulumi unit tests (mocks, seconds)
	$(PY) -m pytest tests/unit

$(SYNTH_STAMP): requirements.txt requirements-bootstrap.txt
	rm -rf $(SYNTH_VENV)
	$(PYTHON) -m venv --without-pip $(SYNTH_VENV)
	if $(PYTHON) -m pip --version >/dev/null 2>&1; then \
	  $(PYTHON) -m pip --python $(SYNTH_PY) install -q --disable-pip-version-check --no-compile -r requirements-bootstrap.txt; \
	else \
	  $(SYNTH_PY) -m ensurepip -q && $(SYNTH_PY) -m pip install -q --disable-pip-version-check --no-compile -r requirements-bootstrap.txt; \
	fi
	$(SYNTH_VENV)/bin/uv pip install -q --python $(SYNTH_PY) -r requirements.txt
	touch $@

synth-venv: $(SYNTH_STAMP) ## The program's runtime only (.venv/synth, from requirements.txt): what synth and diff run in

synth: $(SYNTH_STAMP) ## Write STACK's Kubernetes objects to build/manifests/STACK (no CLI, no cluster; digests are stand-ins)
	$(SYNTH_PY) scripts/synth.py --stack $(STACK)

diff: $(SYNTH_STAMP) ## Manifest diff of the working tree against git ref BASE for STACK (EXIT_CODE=1: exit 1 on changes)
	$(SYNTH_PY) scripts/manifest_diff.py --stack $(STACK) --base $(BASE) $(if $(EXIT_CODE),--exit-code)

lint: venv ## ruff (Python), yamllint (stack files, workflows), hadolint (Dockerfiles)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/yamllint -s $$(git ls-files '*.yaml' '*.yml')
	$(VENV)/bin/hadolint $$(git ls-files '*Dockerfile*')

# The real engine (tools/engine: built from Go modules, cached in ~/.cache/mbhealth/tools) and a
# local cluster with a real node (tools/local-cluster: the control plane, containerd, kubelet,
# kube-proxy, kube-router, CoreDNS, metrics-server, Traefik). scripts/stack.sh sets the state
# backend, passphrase, kubeconfig and Docker engine.
tools: ## Build the Pulumi CLI, providers, Kubernetes and the node's add-ons from Go modules (cached)
	bash tools/engine/build.sh

cluster-local: tools ## Start the local cluster (control plane + a real node) and the Docker engine and registry
	bash tools/machine/system-deps.sh images node
	bash tools/machine/docker-engine.sh start
	bash tools/local-cluster/cluster.sh start

cluster-local-down: ## Stop the local cluster and remove everything it made
	bash tools/local-cluster/cluster.sh stop

# stack-file first: a STACK with no Pulumi.<stack>.yaml fails, naming the stacks, before the venv is made.
stack-file:
	@bash scripts/stack.sh check

up: stack-file venv ## Deploy STACK (default dev) and wait for every resource; KUBE_CONTEXT picks a cluster
	bash scripts/stack.sh up $(PULUMI_ARGS)

preview: stack-file venv ## pulumi preview --diff of STACK
	bash scripts/stack.sh preview $(PULUMI_ARGS)

down: stack-file venv ## Destroy STACK's resources (the stack and its state stay)
	bash scripts/stack.sh down $(PULUMI_ARGS)

cluster: ## Create a kind cluster (context kind-mbhealth) wired to a local registry on localhost:REGISTRY_PORT
	REGISTRY_PORT=$(REGISTRY_PORT) bash tools/kind/cluster.sh

bench: venv ## Benchmark synth and unit-suite times -> bench/synth.md
	$(PY) -m bench.synth

# Guardrails (policy/): the rules, the CrossGuard pack, the scanners.
.PHONY: policy scan policy-venv preview-policy

policy: venv ## Policy rules + CrossGuard pack on both stacks, checkov, workflow validation (tests/policy)
	$(PY) -m pytest tests/policy

scan: venv ## checkov on every stack's manifests and the Dockerfiles (waivers: policy/waivers.yaml)
	$(PY) -m policy.scan

policy-venv: ## The policy pack's virtualenv (policy/venv) for `--policy-pack policy`
	test -x policy/venv/bin/python || $(PYTHON) -m venv policy/venv
	policy/venv/bin/python -m pip install -q --disable-pip-version-check -r policy/requirements.txt

preview-policy: stack-file venv policy-venv ## pulumi preview --diff of STACK with the policy pack
	bash scripts/stack.sh preview --policy-pack policy

bench-images: venv ## Benchmark image builds and sizes (Docker engine + registry) -> bench/images.md
	$(PY) -m bench.images

bench-e2e: venv ## The real engine on a fresh local cluster (real node): cluster start/stop, memory, preview, up, no-op, one-image update, destroy vs kubectl apply -> bench/e2e.md
	$(PY) -m bench.e2e $(if $(COLD_CACHE),--cold-cache $(COLD_CACHE))

bench-reliability: venv ## Faults under load on a fresh local cluster (real node): a rolling release, a backend pod, the kubelet, PostgreSQL and Redis -> bench/reliability.md
	$(PY) -m bench.reliability
