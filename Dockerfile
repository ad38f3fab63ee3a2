# The LGSP bus image: one install of the project, the `lgsp` console script as entrypoint.
# docker-compose.yml runs every bus process from it (ingress, simulate, views run/serve, the init job).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the wheel is built from (see .dockerignore): the packages and the Avro schemas it ships.
COPY pyproject.toml README.md requirements.lock ./
COPY bus ./bus
COPY producers ./producers
COPY consumers ./consumers
COPY lgsp ./lgsp
COPY schemas ./schemas
# The versions CI tested: requirements.lock constrains every dependency (make lock regenerates it).
RUN pip install -c requirements.lock ".[all]" && rm -rf /src

# An unprivileged user; /data holds the SQLite view store and the ingress key file (volumes in compose).
RUN useradd --system --uid 10001 --home-dir /data --create-home lgsp
USER lgsp
WORKDIR /data

ENTRYPOINT ["lgsp"]
CMD ["--help"]
