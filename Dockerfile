# syntax=docker/dockerfile:1
# Atelier: build with `docker build -t atelier .`, run with compose.yaml.

# -- build stage: a virtualenv with the dependencies, then the bot itself ----------------
FROM python:3.11.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first, the exact versions and hashes of requirements.lock (scripts/lock.sh
# makes it from pyproject.toml): this layer is rebuilt only when the lock changes.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
# Then the source (bot/ and cogs/ with their package data: locales, catalogue, samples).
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
RUN pip install --no-deps .

# -- runtime stage: the virtualenv only, a non-root user, the database on /data ---------
FROM python:3.11.11-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATABASE_PATH=/data/atelier.db
RUN groupadd --system --gid 10001 atelier \
    && useradd --system --uid 10001 --gid atelier --home-dir /app --shell /usr/sbin/nologin atelier \
    && mkdir -p /data /app \
    && chown atelier:atelier /data /app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER atelier
VOLUME ["/data"]
# The callback listener (only when WEBHOOK_PUBLIC_URL is set). It binds 127.0.0.1 by
# default; a container that takes callbacks sets WEBHOOK_LISTEN=0.0.0.0:8080 (see
# compose.yaml). Metrics go on their own port only with METRICS_LISTEN (e.g. :9100).
EXPOSE 8080
# The bot rewrites /data/heartbeat every 10 s; stale after 60 s. With callbacks on, the
# check also asks the listener's /healthz. Works with or without the listener.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "bot.healthcheck"]
# SIGTERM: stop taking commands, finish in-flight submits and posts, close, exit 0.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
