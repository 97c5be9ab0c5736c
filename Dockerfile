# syntax=docker/dockerfile:1.7
# Multi-stage: build a virtualenv with uv from requirements.lock (the exact, hashed runtime versions the tests ran
# with; no dev dependencies, no tools/), compile translations, then copy it into a slim runtime image that runs as a
# non-root user.
FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
WORKDIR /app
COPY pyproject.toml requirements.lock README.md alembic.ini ./
COPY bot ./bot
COPY handlers ./handlers
COPY knowledge ./knowledge
COPY prompts ./prompts
COPY scheduler ./scheduler
RUN uv venv /opt/venv \
 && VIRTUAL_ENV=/opt/venv uv pip install --no-cache --require-hashes -r requirements.lock \
 && VIRTUAL_ENV=/opt/venv uv pip install --no-cache --no-deps . \
 && /opt/venv/bin/pybabel compile -d handlers/locales -D messages

FROM python:3.11-slim AS runtime
RUN useradd --create-home --uid 10001 rmbot
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=rmbot:rmbot /app /app
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 LOG_FORMAT=json DATA_DIR=/data
WORKDIR /app
RUN mkdir -p /data && chown rmbot:rmbot /data
USER rmbot
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)" || exit 1
CMD ["rmbot", "run", "--role", "all"]
