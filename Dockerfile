# syntax=docker/dockerfile:1
# Kanari: the probe as a container. Multi-stage: the first stage builds a virtualenv with `pip install .`,
# the final stage copies only that virtualenv onto a clean slim base and runs as a fixed non-root UID.
#
#   docker build --build-arg VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)" -t kanari .
#   docker run -v "$PWD/config:/etc/kanari:ro" -v "$PWD/secrets:/etc/secrets:ro" -p 9464:9464 kanari
#
# The base is pinned by tag; pin it by digest too (python:3.11.13-slim-bookworm@sha256:...) where your
# registry policy requires reproducible builds.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/kanari
# Only what the package build needs: a change to tests or docs does not rebuild the venv.
COPY pyproject.toml README.md ./
COPY probe ./probe
RUN /opt/kanari/bin/pip install --no-cache-dir . \
    && /opt/kanari/bin/kanari --version

FROM ${PYTHON_IMAGE}
# The version lives in pyproject.toml alone; the label takes it from the build argument above.
ARG VERSION
LABEL org.opencontainers.image.title="kanari" \
      org.opencontainers.image.description="Synthetic end-to-end probe for Norway's child-welfare concern reports (bekymringsmeldinger)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/kanari-probe/kanari" \
      org.opencontainers.image.documentation="https://github.com/kanari-probe/kanari/blob/main/README.md"

# A fixed UID/GID so volume permissions and Kubernetes securityContext can name them.
RUN groupadd --system --gid 10001 kanari \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --home-dir /var/lib/kanari --shell /usr/sbin/nologin kanari \
    && mkdir -p /var/lib/kanari /etc/kanari \
    && chown 10001:10001 /var/lib/kanari

COPY --from=build /opt/kanari /opt/kanari

# In a container the probe must listen on all interfaces (kanari.yaml's default is loopback), and keep
# its ledger on the volume rather than next to the read-only configuration.
ENV PATH=/opt/kanari/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    KANARI_LISTEN=0.0.0.0:9464 \
    KANARI_LEDGER=/var/lib/kanari/kanari.sqlite3

USER 10001:10001
WORKDIR /var/lib/kanari
VOLUME ["/var/lib/kanari"]
EXPOSE 9464

# /healthz is liveness (the process answers). The slim image has no curl: use the venv's Python.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["kanari"]
CMD ["run", "--config", "/etc/kanari"]
