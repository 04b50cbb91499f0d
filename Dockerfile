# awsme: one image, every role. The same file builds amd64 and arm64 (every
# dependency ships wheels for both, so no stage needs a compiler).
#
#   docker build -t awsme .
#   docker run --rm -p 8080:8080 awsme                  # standalone: the card on :8080
#   docker run --rm awsme app -mode=backend -run-migrations -port=8081 -db-host=db -db-password=root
#
# No `# syntax=` line: BuildKit would fetch that frontend from a registry, and
# air-gapped builders have none. The built-in frontend knows RUN --mount.

ARG PYTHON_VERSION=3.11

# The wheel is pure Python: build it on the builder's own platform, even when
# cross-building with `docker buildx build --platform linux/amd64,linux/arm64`.
FROM --platform=$BUILDPLATFORM python:${PYTHON_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# The locked packages, installed in a stage of the target platform (emulated when
# cross-building), so that this stage's own strip reads their .so files. Their
# wheels ship debug symbols: --strip-unneeded drops those and the static symbol
# table, and keeps the dynamic symbols that loading uses (on amd64, 38 MB of .so
# become 9.4). binutils is not pinned: it comes from the base's own Debian
# release, and no byte of it reaches the final stage.
FROM python:${PYTHON_VERSION}-slim-bookworm AS deps
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends binutils \
 && rm -rf /var/lib/apt/lists/*
# Exactly the packages of requirements.lock, checked by hash, so that two builds of
# one commit install the same; the lock is bind-mounted, pip keeps no cache.
# --root lays out under /deps just what pip installed, where it installs it.
RUN --mount=type=bind,source=requirements.lock,target=/tmp/requirements.lock \
    python -m pip install --no-cache-dir --require-hashes --root /deps -r /tmp/requirements.lock \
 && find /deps -type f -name '*.so*' -exec strip --strip-unneeded {} +

FROM python:${PYTHON_VERSION}-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The locked packages with the .pyc that pip compiled (kept: the user could not
# write them, and every start would compile again), in their own layer, which a
# change to the code alone reuses. Then the wheel, bind-mounted so that no layer
# keeps it, with no more, and the user.
COPY --from=deps /deps/ /
RUN --mount=type=bind,from=build,source=/dist,target=/dist \
    python -m pip install --no-cache-dir --no-deps /dist/*.whl \
 && groupadd --system --gid 10001 awsme \
 && useradd --system --uid 10001 --gid awsme --home-dir /data --no-create-home awsme \
 && install -d -o awsme -g awsme -m 0750 /data

# The embedded SQLite file (used when no database is configured) lands in the
# working directory. With `--read-only` or readOnlyRootFilesystem, /data is the
# one path to mount writable (a volume, an emptyDir); /tmp too with -workers>1.
# No VOLUME: the roles that use a database write nothing, and each container
# would leave an anonymous volume behind (four per `docker compose down`).
WORKDIR /data

# Last, so that a new revision reuses every layer above.
# Keep in step with src/awsme/version.py (tests/deploy checks it); CodeBuild passes both.
ARG VERSION=2.0.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="awsme" \
      org.opencontainers.image.description="A demo microservice that tells where it runs: backend, frontend, standalone, EC2 metadata simulator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"

# Numeric, so that Kubernetes can check runAsNonRoot.
USER 10001:10001
EXPOSE 8080 8081
# No ENTRYPOINT: `docker run IMAGE app -mode=backend ...` replaces the command as
# in the workshop. With none: the frontend on 8080 and its backend on 8081.
CMD ["app", "-mode=standalone"]
