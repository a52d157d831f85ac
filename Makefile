# The BSS account suite. `make run` starts everything; `make test` tests
# everything. Both work on a fresh machine: they install what is missing and
# start a private Postgres when none is reachable.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
SUITE := target/debug/bss-suite
VENV := .venv
PYTHON_CLIENT := clients/python
PROTO_FILES := $(shell find proto -name '*.proto')
BUF := npx --yes @bufbuild/buf@1.75.0
CLIENT_TS := clients/typescript
CLIENT_TS_SOURCES := $(CLIENT_TS)/src/index.ts $(CLIENT_TS)/src/node.ts $(CLIENT_TS)/tsconfig.json
# What `buf generate` (buf.gen.yaml) reads, and the stamp of what it wrote.
CLIENT_TS_PROTOS := $(shell find $(CLIENT_TS)/proto -name '*.proto')
CLIENTS_INPUTS := $(PROTO_FILES) $(CLIENT_TS_PROTOS) buf.gen.yaml \
  $(PYTHON_CLIENT)/protoc_gen_bss_python.py
CLIENTS_GENERATED := clients/.generated
CONSOLE_SOURCES := $(shell find console/src console/public -type f) console/index.html console/vite.config.ts \
  console/tsconfig.json console/package.json console/package-lock.json
NPM_CI := npm ci --no-audit --no-fund --loglevel=error

.PHONY: help deps build console clients run test books-agree fuzz lint sqlx-prepare sqlx-check k8s-check image-binaries fmt bench python-env clean-data

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

deps: ## install the system packages this machine lacks (Postgres binaries, python3-venv, Node's npm; checks Node's version)
	@deploy/local/deps.sh

build: ## build every crate, tests included
	$(CARGO) build --workspace --all-targets

console: deps console/dist/index.html ## the TypeScript client (clients/typescript) and the console built into console/dist

$(CLIENT_TS)/node_modules/.stamp: $(CLIENT_TS)/package.json $(CLIENT_TS)/package-lock.json
	cd $(CLIENT_TS) && $(NPM_CI)
	touch $@

# Every client's code, with one command: buf generate (buf.gen.yaml), its
# plugins being the TypeScript package's protoc-gen-es and the Python
# package's generator in the virtualenv.
# After the TypeScript package's own build (order only): both write its
# generated code, never at once under make -j.
$(CLIENTS_GENERATED): $(CLIENTS_INPUTS) $(CLIENT_TS)/node_modules/.stamp $(VENV)/.requirements | $(CLIENT_TS)/dist/.stamp
	rm -rf $(CLIENT_TS)/src/gen $(PYTHON_CLIENT)/src/bss
	$(CLIENT_TS)/node_modules/.bin/buf generate
	touch $@

# The TypeScript package alone (the console needs no Python): its own
# template, clients/typescript/buf.gen.yaml, with the same plugin.
$(CLIENT_TS)/dist/.stamp: $(CLIENT_TS)/node_modules/.stamp $(PROTO_FILES) $(CLIENT_TS_PROTOS) \
  $(CLIENT_TS)/buf.gen.yaml $(CLIENT_TS_SOURCES)
	cd $(CLIENT_TS) && npm run --silent build
	touch $@

console/dist/index.html: $(CLIENT_TS)/dist/.stamp $(CONSOLE_SOURCES)
	cd console && $(NPM_CI) && npm run --silent build

run: deps console ## start the whole suite and its console (a private Postgres unless DATABASE_URL is set)
	$(CARGO) build -p bss-suite
	$(SUITE) run

test: deps python-env console build ## run every test (starts a private Postgres when none is reachable), the console's in Chromium last
	@deploy/local/deps.sh --browser
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(SUITE) with-postgres -- $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  $(SUITE) with-postgres -- $(CARGO) test --workspace --no-fail-fast; \
	fi
	cd console && npm test

books-agree: deps build ## the model-based test of billing and credit, long: 2,000 random steps (BOOKS_AGREE_SEED replays one)
	BOOKS_AGREE_STEPS=$${BOOKS_AGREE_STEPS:-2000} $(SUITE) with-postgres -- $(CARGO) test -p bss-e2e --test books_agree -- --nocapture

fuzz: deps build ## the malformed-input test, long: 300 random requests per RPC with a fresh seed (BSS_FUZZ_SEED replays one)
	BSS_FUZZ_CASES=$${BSS_FUZZ_CASES:-300} BSS_FUZZ_SEED=$${BSS_FUZZ_SEED:-$$(date +%s)} $(SUITE) with-postgres -- $(CARGO) test -p bss-e2e --test fuzz -- --nocapture

lint: k8s-check ## rustfmt, clippy with warnings denied, buf lint and breaking (against the previous commit), the Kubernetes manifests
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd proto && $(BUF) lint
	@# Contracts change only compatibly: against the previous commit (a
	@# clone without it, such as a shallow one, has nothing to compare).
	@if git rev-parse --verify --quiet HEAD~1 >/dev/null; then \
		cd proto && $(BUF) breaking --against '../.git#ref=HEAD~1,subdir=proto'; \
	else echo "buf breaking: no previous commit to compare with"; fi

sqlx-prepare: ## describe the checked queries (sqlx query!) against the current schema, into .sqlx (commit it); needs a Postgres (DATABASE_URL, else the local one)
	deploy/local/sqlx-prepare.sh .sqlx

sqlx-check: deps ## fail when .sqlx is not what the current queries and schema describe (CI runs it)
	$(CARGO) build -p bss-suite
	$(SUITE) with-postgres -- deploy/local/sqlx-prepare.sh target/sqlx-check
	@diff -r .sqlx target/sqlx-check && echo "sqlx: .sqlx is current" || \
		{ echo "sqlx: .sqlx is stale: run make sqlx-prepare and commit it"; exit 1; }

k8s-check: $(VENV)/.deploy-requirements .venv-policy/.requirements ## render every kustomize overlay and validate it offline (strict), lint the released prod overlay (checkov, offline); check the alert rules (promtool, with their unit tests) and the dashboard's queries
	@deploy/local/deps.sh --lint
	deploy/k8s/validate.sh $(CURDIR)/$(VENV)/bin/kubernetes-validate $(CURDIR)/.venv-policy/bin/checkov
	$(VENV)/bin/python deploy/k8s/components/monitoring/check.py target/monitoring

image-binaries: ## the container image's build stage, run here: release binaries into target/image
	deploy/docker/build-binaries.sh target/image

fmt: ## format the Rust code
	$(CARGO) fmt --all

bench: deps ## measure throughput and latency against same-run baselines; writes target/bench/summary.json
	$(CARGO) build --release -p bss-bench -p bss-suite -p bss-accounts -p bss-pricing -p bss-credit -p bss-billing \
	  -p bss-reseller-sync -p bss-gateway
	target/release/bss-suite with-postgres --min-connections 500 -- target/release/bss-bench

python-env: $(VENV)/.requirements $(VENV)/.bss-client ## the virtualenv with the Python client (clients/python) generated from proto/ and installed

clients: $(CLIENTS_GENERATED) $(CLIENT_TS)/dist/.stamp python-env ## every client package from proto/ (buf generate with buf.gen.yaml): TypeScript (clients/typescript) and Python (clients/python)

$(VENV)/.requirements: tests/python/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
	cp tests/python/requirements.txt $@

$(VENV)/.deploy-requirements: deploy/k8s/requirements.txt
	test -x $(VENV)/bin/pip || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r deploy/k8s/requirements.txt
	cp deploy/k8s/requirements.txt $@

.venv-policy/.requirements: deploy/k8s/requirements-policy.txt
	python3 -m venv .venv-policy
	.venv-policy/bin/pip install --quiet --disable-pip-version-check -r deploy/k8s/requirements-policy.txt
	cp deploy/k8s/requirements-policy.txt $@

$(VENV)/.bss-client: $(CLIENTS_GENERATED) $(PYTHON_CLIENT)/pyproject.toml $(PYTHON_CLIENT)/src/bss_client/__init__.py
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps \
	  ./$(PYTHON_CLIENT)
	touch $@

clean-data: ## delete the private Postgres data folders
	rm -rf .data
