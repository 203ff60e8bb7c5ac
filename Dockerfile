# nnserve image: `nnserve serve` (gunicorn + the embedded training worker) by default; compose
# runs the same image as `nnserve serve --no-worker` and `nnserve worker`.
#
#   docker build -t nnserve .
#   docker run -p 8000:8000 -e NNSERVE_API_KEYS='secret:admin' -v nnserve-store:/var/lib/nnserve nnserve
#
# It binds 0.0.0.0, so `nnserve serve` refuses to start without NNSERVE_API_KEYS (see
# docs/operations.md); pass `--insecure` in the command only on a trusted network.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Dependencies first, exactly as locked (versions and sha256 of every file; the build
# requirements included): this layer is rebuilt only when requirements.lock changes.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
# Then the code; the build requirements are already in the venv.
COPY pyproject.toml README.md ./
COPY models ./models
COPY service ./service
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && nnserve --help > /dev/null

FROM ${PYTHON_IMAGE}
RUN useradd --no-log-init --uid 10001 --user-group --no-create-home --home-dir /var/lib/nnserve \
        --shell /usr/sbin/nologin nnserve \
    && mkdir -p /var/lib/nnserve /app \
    && chown nnserve:nnserve /var/lib/nnserve
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NNSERVE_STORE=/var/lib/nnserve \
    NNSERVE_HOST=0.0.0.0 \
    NNSERVE_PORT=8000 \
    NNSERVE_LOG_FORMAT=json
# An empty working directory: `python -m gunicorn` puts it first on sys.path.
WORKDIR /app
# The model store (models, datasets, the SQLite job queue). A new named volume copies this
# directory's ownership, so the non-root user can write to it.
VOLUME ["/var/lib/nnserve"]
USER 10001:10001
EXPOSE 8000
# slim has no curl; a non-2xx answer or no answer raises, and python exits 1 (unhealthy).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('NNSERVE_PORT', '8000') + '/healthz', timeout=4)"]
# Exec form: `nnserve serve` execs gunicorn, which becomes PID 1 and gets docker stop's SIGTERM.
CMD ["nnserve", "serve"]
