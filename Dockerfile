# One image for every service; the command picks the service
# (python -m dicompress_api | dicompress_compressor | dicompress_progress worker | dicompress_notifier).
FROM python:3.11.11-slim-bookworm AS build
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock ./
# dependencies first, so a code change does not rebuild them
RUN uv sync --frozen --no-dev --no-install-project
COPY schemas schemas
COPY infra infra
COPY services services
COPY stack stack
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11.11-slim-bookworm
RUN useradd --system --uid 10001 --no-create-home app
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1
USER 10001
EXPOSE 8000
CMD ["python", "-m", "dicompress_api"]
