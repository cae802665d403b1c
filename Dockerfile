# One image for every carenet service; compose picks the service with
# `command: ["python", "-m", "services.<name>"]`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Unprivileged runtime user (no login shell, no home clutter).
RUN groupadd --system --gid 10001 carenet \
    && useradd --system --uid 10001 --gid carenet --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin carenet

# Only what the package needs: no tests, docs or benchmarks in the image.
COPY pyproject.toml ./
COPY shared/ ./shared/
COPY services/ ./services/

RUN pip install . \
    && rm -rf build ./*.egg-info

ENV CARENET_CONFIG=/app/shared/agency/demo_organisation.toml \
    CARENET_HTTP_PORT=8080

EXPOSE 8080

USER carenet

# slim has no curl: probe /readyz with the standard library (a 503 raises, so the exit code is 1).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('CARENET_HTTP_PORT', '8080') + '/readyz', timeout=4)"]

# The services stop gracefully on SIGTERM (within CARENET_GRACEFUL_TIMEOUT_SECONDS).
STOPSIGNAL SIGTERM

CMD ["python", "-m", "services.intake"]
