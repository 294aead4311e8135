# syntax=docker/dockerfile:1
# Two images from one file, both running the same distribution; the command picks the service.
#   default target (`docker build .`), image `dicompress`:
#     python -m dicompress_api | dicompress_compressor | dicompress_progress worker -l info
#     | dicompress_notifier | dicompress_ingest | dicompress_products
#   `--target renderer`, image `dicompress-renderer`: python -m dicompress_renderer
# (docker-compose.yml and deploy/k8s set the command and every setting through the environment).
#
# Why a second image for the renderer: it alone needs the `renderer` dependency group (vtk, ~570
# MB installed, and pillow) and Mesa's EGL libraries for offscreen rendering. Putting them in the
# shared image would more than double what every other service pulls and keeps on its nodes, for
# code they never import. So the default image installs no dependency group at all
# (--no-default-groups: pyproject's [tool.uv] default-groups adds `renderer` for development,
# and --no-dev alone would still install it), and the renderer target adds that group in its own
# build stage plus the EGL packages in its own runtime stage. The default target is the last
# stage, so a plain build never runs the renderer's stages (BuildKit builds only what the target
# needs). The default image still holds the dicompress_renderer package (one wheel), which
# cannot start there: without vtk it fails at import, loudly.
#
# No HEALTHCHECK on purpose: the same image runs six services on six ports, and both
# orchestrators we ship probe /healthz themselves (compose `healthcheck:`, Kubernetes
# liveness/readiness probes), so one baked-in check would be wrong for five of them.
#
# The base is pinned by tag here; pin it by digest too when you publish the image
# (`docker buildx imagetools inspect python:3.11.11-slim-bookworm` prints it) so a rebuild
# cannot pick up a different base silently. Every stage must use the same base: the virtual
# environment's python is a link to the base image's interpreter.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS uv
# uv pinned to the version that wrote uv.lock (a newer uv may rewrite the lock format)
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11
WORKDIR /app
COPY pyproject.toml uv.lock ./

FROM uv AS build
# dependencies first, so a code change does not rebuild them; --frozen fails if the lock is stale
RUN uv sync --frozen --no-default-groups --no-install-project
COPY schemas schemas
COPY infra infra
COPY services services
COPY stack stack
# --no-editable installs our packages into the venv, so the final stage needs no sources
RUN uv sync --frozen --no-default-groups --no-editable

# The same, plus the renderer's group. Its own stage from `uv` (not from `build`), so its vtk
# layer is cached apart from the code and a code change does not download vtk again.
FROM uv AS build-renderer
RUN uv sync --frozen --no-default-groups --group renderer --no-install-project
COPY schemas schemas
COPY infra infra
COPY services services
COPY stack stack
RUN uv sync --frozen --no-default-groups --group renderer --no-editable

# What both images share: the user, the environment, the working directory.
FROM ${PYTHON_IMAGE} AS base
LABEL org.opencontainers.image.source="https://example.invalid/dicompress"
# a fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it without /etc/passwd
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin app
# PROGRESS_DATA_DIR: faust insists on a data directory, and /tmp is what stays writable under
# a read-only root filesystem (Kubernetes mounts an emptyDir there)
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PROGRESS_DATA_DIR=/tmp/dicompress/progress
# root-owned and read-only for the app user: the code cannot be changed at run time
WORKDIR /app

FROM base AS renderer
LABEL org.opencontainers.image.title="dicompress-renderer" \
      org.opencontainers.image.description="DICOM CT series to thumbnails and snapshots (vtk, offscreen EGL)"
# vtk's wheel renders offscreen through EGL, with no X server or GPU: libEGL (the glvnd
# dispatcher), Mesa's EGL vendor library and its software (llvmpipe) driver
RUN apt-get update \
    && apt-get install --yes --no-install-recommends libegl1 libegl-mesa0 libgl1-mesa-dri \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build-renderer --chown=root:root /app/.venv /app/.venv
USER 10001:10001
# renderer 18050 (health and metrics)
EXPOSE 18050
CMD ["python", "-m", "dicompress_renderer"]

# The default target: the last stage.
FROM base AS runtime
LABEL org.opencontainers.image.title="dicompress" \
      org.opencontainers.image.description="DICOM CT to JPEG 2000 with live progress: api, compressor, ingest, products, progress, notifier"
COPY --from=build --chown=root:root /app/.venv /app/.venv
USER 10001:10001
# api 18000, progress 18001, compressor 18002, ingest 18030, products 18040 (health), notifier
# 18765
EXPOSE 18000 18001 18002 18030 18040 18765
CMD ["python", "-m", "dicompress_api"]
