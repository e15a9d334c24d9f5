# syntax=docker/dockerfile:1
# The service image: a wheel built in one stage, installed in a slim one.
#
#   docker build -t gql-service .
#   docker run -e GQL_SERVICE_MONGODB_URI=... -e GQL_SERVICE_JWT_SECRET=... \
#       -p 8000:8000 gql-service

# Builder: wheels of the service and of every dependency, so the final
# stage installs offline and needs no compiler or build backend.
FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gql_service ./gql_service
RUN python -m pip wheel --wheel-dir /wheels ".[otel]"

# Runtime: the same slim base, no build tools, a user without privileges.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GQL_SERVICE_HOST=0.0.0.0 \
    GQL_SERVICE_PORT=8000
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m pip install --no-index --find-links=/wheels "gql-service[otel]"
RUN groupadd --system --gid 10001 gql \
    && useradd --system --uid 10001 --gid gql --home-dir /app --create-home \
       --shell /usr/sbin/nologin gql
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# slim has no curl: ask /healthz with the standard library, bypassing any
# proxy from the environment.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.build_opener(r.ProxyHandler({})).open('http://127.0.0.1:%s/healthz' % os.environ.get('GQL_SERVICE_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["gql-service", "serve"]
