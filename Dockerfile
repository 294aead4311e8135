# syntax=docker/dockerfile:1
# One image for every service; the command picks the service:
#   python -m dicompress_api | dicompress_compressor | dicompress_progress worker -l info
#   | dicompress_notifier | dicompress_ingest
# (docker-compose.yml and deploy/k8s set the command and every setting through the environment).
#
# No HEALTHCHECK on purpose: the same image runs five services on five ports, and both
# orchestrators we ship probe /healthz themselves (compose `healthcheck:`, Kubernetes
# liveness/readiness probes), so one baked-in check would be wrong for four of them.
#
# The base is pinned by tag here; pin it by digest too when you publish the image
# (`docker buildx imagetools inspect python:3.11.11-slim-bookworm` prints it) so a rebuild
# cannot pick up a different base silently. Both stages must use the same base: the virtual
# environment's python is a link to the base image's interpreter.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# uv pinned to the version that wrote uv.lock (a newer uv may rewrite the lock format)
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11
WORKDIR /app
COPY pyproject.toml uv.lock ./
# dependencies first, so a code change does not rebuild them; --frozen fails if the lock is stale
RUN uv sync --frozen --no-dev --no-install-project
COPY schemas schemas
COPY infra infra
COPY services services
COPY stack stack
# --no-editable installs our packages into the venv, so the final stage needs no sources
RUN uv sync --frozen --no-dev --no-editable

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="dicompress" \
      org.opencontainers.image.description="DICOM CT to JPEG 2000 with live progress: api, compressor, ingest, progress, notifier" \
      org.opencontainers.image.source="https://example.invalid/dicompress"
# a fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it without /etc/passwd
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=build --chown=root:root /app/.venv /app/.venv
# PROGRESS_DATA_DIR: faust insists on a data directory, and /tmp is what stays writable under
# a read-only root filesystem (Kubernetes mounts an emptyDir there)
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PROGRESS_DATA_DIR=/tmp/dicompress/progress
# root-owned and read-only for the app user: the code cannot be changed at run time
WORKDIR /app
USER 10001:10001
# api 18000, progress 18001, compressor 18002 (health), notifier 18765
EXPOSE 18000 18001 18002 18765
CMD ["python", "-m", "dicompress_api"]
