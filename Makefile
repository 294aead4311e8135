# The two set-up commands of a fresh machine (see README): `make demo` and `make test`.
# Both install what they need first: uv (from PyPI) and the locked Python dependencies; the
# embedded stack resolves Kafka's and S3Proxy's jars with Maven on first use.
UV := python3 -m uv

.PHONY: setup system-tools demo up test lint

# `uv sync` installs the dev and renderer dependency groups ([tool.uv] default-groups): the
# renderer's vtk wheel is large, so a production image of the other services can leave it out.
setup:
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check 'uv==0.13.9'
	$(UV) sync --frozen --quiet

demo: setup
	$(UV) run --frozen dicompress demo

up: setup
	$(UV) run --frozen dicompress up

# lint-imports checks .importlinter: a service imports only the contract, infra and itself.
lint: setup
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	$(UV) run --frozen lint-imports --no-cache

# dciodvfy (Debian's dicom3tools) checks that our DICOM output adds no finding to its input's;
# dcm2niix (Debian) is the second independent reader of a Mini CT's geometry;
# Debian's chromium runs the viewer's browser test (Playwright drives it; it never downloads one).
# The Kubernetes manifest tests build deploy/k8s with kubectl, else kustomize, which `go install`
# builds from the Go module proxy (Debian 12's kubernetes-client is 1.20, its golang 1.19 too old
# for kustomize v5). A tool that cannot be installed makes its tests fail, never skip.
SYSTEM_TOOLS := dciodvfy:dicom3tools chromium:chromium dcm2niix:dcm2niix
# The renderer's vtk renders offscreen through EGL on Mesa (llvmpipe): these libraries are not
# on a fresh machine; without them vtk cannot render and snapshots fall back to a projection.
EGL_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri
KUSTOMIZE_VERSION := v5.5.0

system-tools:
	@gobin="$${GOBIN:-$$HOME/go/bin}"; \
	if ! command -v kubectl >/dev/null 2>&1 && ! command -v kustomize >/dev/null 2>&1 \
	  && [ ! -x "$$gobin/kustomize" ]; then \
	  go=$$(command -v go || echo /usr/local/go/bin/go); \
	  if [ -x "$$go" ]; then \
	    echo "installing kustomize $(KUSTOMIZE_VERSION) into $$gobin (Go module proxy)"; \
	    GOBIN="$$gobin" "$$go" install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION); \
	  else echo "kubectl and kustomize are missing and Go (>= 1.22) is not installed:" \
	    "the Kubernetes manifest tests will fail" >&2; fi; \
	fi
	@for pair in $(SYSTEM_TOOLS); do \
	  tool=$${pair%%:*}; package=$${pair#*:}; \
	  command -v $$tool >/dev/null 2>&1 && continue; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    [ -n "$$updated" ] || { apt-get update -qq; updated=1; }; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$package >/dev/null; \
	  else echo "$$tool is missing and cannot be installed here (not root): its tests will fail" >&2; fi; \
	done
	@missing=""; for package in $(EGL_PACKAGES); do \
	  dpkg -s $$package >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "EGL libraries missing ($$missing) and not installable here (not root):" \
	    "the renderer's vtk tests will fail" >&2; fi; \
	fi

test: lint system-tools
	$(UV) run --frozen pytest
