#!/usr/bin/env bash
# Measure the serving image: cold build time, size (and size above the base), and the time from
# `docker run -d` to the first 200 from /v2/health/ready (median of 5 starts).
#
#   deploy/measure_image.sh                                       # docker
#   DOCKER=../shared/container/docker deploy/measure_image.sh     # podman stand-in here
#
# The figures quoted in the README come from this script. It builds with --no-cache, so the
# build time includes downloading the wheels, and it removes the image it built.
set -euo pipefail
cd "$(dirname "$0")/.."
DOCKER=${DOCKER:-docker}
IMAGE=${IMAGE:-localhost/rnn-serve:measure}
BASE=${BASE:-python:3.11-slim}
PORT=${PORT:-18765}
export BUILDAH_FORMAT=docker   # podman: keep HEALTHCHECK (docker ignores this)

start=$(date +%s.%N)
$DOCKER build --no-cache -q -t "$IMAGE" . >/dev/null
build_s=$(echo "$(date +%s.%N) - $start" | bc)

size=$($DOCKER image inspect "$IMAGE" --format '{{.Size}}')
base=$($DOCKER image inspect "$BASE" --format '{{.Size}}' 2>/dev/null || echo 0)

ready=()
for _ in 1 2 3 4 5; do
  t0=$(date +%s.%N)
  $DOCKER run -d --rm --name rnn-serve-measure -p "127.0.0.1:$PORT:8000" "$IMAGE" >/dev/null 2>&1
  until python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$PORT/v2/health/ready', timeout=1)" 2>/dev/null; do
    sleep 0.05
  done
  ready+=("$(echo "$(date +%s.%N) - $t0" | bc)")
  $DOCKER stop -t 10 rnn-serve-measure >/dev/null 2>&1
done
$DOCKER rmi "$IMAGE" >/dev/null 2>&1 || true

median=$(printf '%s\n' "${ready[@]}" | sort -n | sed -n 3p)
printf 'cold build (--no-cache): %.1f s\n' "$build_s"
printf 'image size: %.1f MB (base %s: %.1f MB; added: %.1f MB)\n' \
  "$(echo "$size / 1000000" | bc -l)" "$BASE" "$(echo "$base / 1000000" | bc -l)" \
  "$(echo "($size - $base) / 1000000" | bc -l)"
printf 'time to ready (run -d → /v2/health/ready 200): median %.2f s of 5 (%s)\n' \
  "$median" "$(printf '%s ' "${ready[@]}" | xargs printf '%.2f ')"
