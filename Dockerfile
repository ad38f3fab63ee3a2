# The LGSP bus image: one install of the project, the `lgsp` console script as entrypoint.
# docker-compose.yml runs every bus process from it (ingress, simulate, views run/serve, the init job).

# Build stage: the project's wheel, with its C extensions compiled (hatch_build.py: the signing hash tree, the
# Avro writer and murmur2). The compiler and OpenSSL's headers stay in this stage; the wheel links the libcrypto
# the runtime image already has.
FROM python:3.11-slim AS wheel
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the wheel is built from (see .dockerignore): the packages, the build hook and the Avro schemas.
COPY pyproject.toml README.md hatch_build.py ./
COPY bus ./bus
COPY producers ./producers
COPY consumers ./consumers
COPY lgsp ./lgsp
COPY schemas ./schemas
RUN pip wheel --no-deps -w /wheels .

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY requirements.lock /tmp/requirements.lock
COPY --from=wheel /wheels /wheels
# The versions CI tested: requirements.lock constrains every dependency (make lock regenerates it).
RUN pip install -c /tmp/requirements.lock "$(ls /wheels/lgsp_bus-*.whl)[all]" \
    && rm -rf /wheels /tmp/requirements.lock

# An unprivileged user; /data holds the SQLite view store and the ingress key file, /keys the stack's signing
# keys, /cache the schema cache (volumes in compose). Docker gives a new named volume the owner of the image's
# directory it is mounted on, so each exists here owned by lgsp (a missing one would be root's: unwritable).
RUN useradd --system --uid 10001 --home-dir /data --create-home lgsp \
    && install -d -o lgsp -g lgsp /keys /cache
USER lgsp
WORKDIR /data

ENTRYPOINT ["lgsp"]
CMD ["--help"]
