# rnn-serve images. Targets (docker build --target NAME):
#   runtime  (default, last stage)  onnxruntime + FastAPI/uvicorn + the committed models/; no torch,
#                                   no compiler, no pip cache; runs `rnn-serve serve` as a non-root user
#   loadtest                        runtime's environment + the `loadtest` extra (aiohttp, hdrhistogram,
#                                   rich, matplotlib); runs `rnn-serve loadtest` (compose profile `loadtest`)
#   train                           + torch 2.13.0 (CPU) and onnx; re-creates models/ with `rnn-serve models`
# Dependencies are installed from pyproject.toml BEFORE the source is copied, so editing code
# rebuilds only the last small layers.
# Ref: https://docs.docker.com/build/building/multi-stage/

ARG PYTHON_IMAGE=python:3.11-slim

# ---- base: what every stage shares --------------------------------------------------------
FROM ${PYTHON_IMAGE} AS base
# The project lives in a virtualenv without pip/setuptools (25 MB saved); the base image's own pip
# installs into it with `pip --python /opt/venv/bin/python`.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
# A fixed, unprivileged uid so a mounted model repository or results folder can be granted to it.
RUN groupadd --gid 10001 rnn \
 && useradd --uid 10001 --gid rnn --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin --no-log-init rnn
WORKDIR /app

# ---- deps: a virtualenv with the serving dependencies only ---------------------------------
FROM base AS deps
COPY pyproject.toml ./
# One requirements file per dependency list of pyproject.toml (tomllib is stdlib in 3.11), so the
# dependency layers depend on pyproject.toml only.
RUN python -c "import pathlib, tomllib; \
p = tomllib.loads(pathlib.Path('pyproject.toml').read_text())['project']; \
out = pathlib.Path('/opt/requirements'); out.mkdir(); \
(out / 'serve.txt').write_text('\n'.join(p['dependencies']) + '\n'); \
[(out / f'{k}.txt').write_text('\n'.join(v) + '\n') for k, v in p['optional-dependencies'].items()]" \
 && python -m venv --without-pip /opt/venv \
 && pip --python /opt/venv/bin/python install -r /opt/requirements/serve.txt

# ---- wheel: the project itself, built once, installed with --no-deps by the later stages --------
FROM deps AS wheel
COPY service/ service/
COPY export/ export/
COPY loadtest/ loadtest/
# pyproject.toml names README.md as the long description: copy it when present (the glob may
# match nothing; pyproject.toml keeps the COPY valid).
COPY pyproject.toml README.m[d] ./
RUN pip wheel --no-deps --wheel-dir /wheels .

# ---- models: the committed model repository, readable by the non-root user ---------------------
# Build-context files keep the host's modes (a package folder written by mkdtemp is 0700), so
# normalise them here, in a stage of their own, rather than in an extra runtime layer.
FROM base AS models
COPY models/ /app/models/
RUN chmod -R u=rwX,go=rX /app/models

# ---- loadtest-deps: the serving venv + the loadtest extra -------------------------------------
FROM deps AS loadtest-deps
RUN pip --python /opt/venv/bin/python install -r /opt/requirements/loadtest.txt

# ---- train: torch + onnx + the source tree; re-creates models/ (NOT built by the tests) -----------
# The torch 2.13.0 wheel on PyPI is the CUDA build (several GB); the CPU build lives on the PyTorch
# index, hence --index-url. Elsewhere, point TORCH_SOURCE at your mirror, e.g.
#   --build-arg TORCH_SOURCE="--find-links http://127.0.0.1:8099/"   (a folder of wheels)
# The source runs from /app (not site-packages) because the exporter finds the data at
# <repository>/../shared/data, i.e. /shared/data here:
#   docker build --target train -t rnn-serve-train .
#   docker run --rm -v "$PWD/../shared/data:/shared/data:ro" -v "$PWD/models:/app/models" \
#       -v "$PWD/.runs:/app/.runs" rnn-serve-train            # = `rnn-serve models`
FROM deps AS train
ARG TORCH_SOURCE="--index-url https://download.pytorch.org/whl/cpu"
RUN pip --python /opt/venv/bin/python install ${TORCH_SOURCE} torch==2.13.0 \
 && pip --python /opt/venv/bin/python install -r /opt/requirements/train.txt
COPY service/ service/
COPY export/ export/
COPY loadtest/ loadtest/
ENV PYTHONPATH=/app
ENTRYPOINT ["python", "-m", "service.cli", "models"]

# ---- loadtest: the load tester (compose profile `loadtest`) -----------------------------------
FROM base AS loadtest
COPY --from=loadtest-deps /opt/venv /opt/venv
COPY --from=wheel /wheels /wheels
RUN pip --python /opt/venv/bin/python install --no-deps /wheels/*.whl && rm -rf /wheels
# matplotlib wants a writable config dir; the uid may be overridden (compose `user:`), so use /tmp.
ENV MPLCONFIGDIR=/tmp/matplotlib
USER 10001:10001
ENTRYPOINT ["rnn-serve", "loadtest"]
CMD ["--help"]

# ---- runtime: the serving image (default target) ---------------------------------------------
FROM base AS runtime
COPY --from=deps /opt/venv /opt/venv
COPY --from=wheel /wheels /wheels
RUN pip --python /opt/venv/bin/python install --no-deps /wheels/*.whl && rm -rf /wheels
# The committed model repository, baked in; mount another one and point
# RNN_SERVE_MODEL_REPOSITORY at it to serve different models.
COPY --from=models /app/models /app/models
ENV RNN_SERVE_MODEL_REPOSITORY=/app/models \
    HOST=0.0.0.0 \
    PORT=8000
USER 10001:10001
# 8000: HTTP (task API, KServe V2 REST, /metrics); 8001: KServe V2 gRPC (RNN_SERVE_GRPC_PORT, 0 = off)
EXPOSE 8000 8001
# No curl in the image: the stdlib does the probe. Non-2xx (503 while models load) → exit 1.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('RNN_SERVE_PORT') or os.environ.get('PORT', '8000'); urllib.request.urlopen(f'http://127.0.0.1:{port}/v2/health/ready', timeout=4)"]
# Exec form: the Python process is PID 1 and receives SIGTERM itself (a shell would swallow it):
# it serves on for RNN_SERVE_SHUTDOWN_DELAY_S, stops accepting, lets in-flight requests finish
# (RNN_SERVE_GRACEFUL_SHUTDOWN_S) and exits 0. Set the port by env (PORT), which the probe reads.
ENTRYPOINT ["rnn-serve", "serve"]
