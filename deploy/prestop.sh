#!/bin/sh
# Kubernetes preStop hook of a streamkit job: stop the job with a savepoint
# through its sidecar, and wait until it is taken. The job then exits 0 by
# itself, and the SIGTERM that follows finds it stopped.
#
# Environment: STREAMKIT_JOB (savepoint prefix), STREAMKIT_SIDECAR_PORT
# (default 9102), STREAMKIT_SIDECAR_TOKEN_FILE (default
# /var/run/secrets/streamkit/sidecar/token), STREAMKIT_STOP_TIMEOUT (seconds,
# default 300: keep terminationGracePeriodSeconds above it).
set -eu
port=${STREAMKIT_SIDECAR_PORT:-9102}
token_file=${STREAMKIT_SIDECAR_TOKEN_FILE:-/var/run/secrets/streamkit/sidecar/token}
name="${STREAMKIT_JOB:-streamkit}-$(date -u +%Y%m%dT%H%M%SZ)"
echo "preStop: stopping with savepoint $name" >/proc/1/fd/2 2>/dev/null || true
exec curl --fail --silent --show-error --max-time "${STREAMKIT_STOP_TIMEOUT:-300}" -X POST \
    -H "Authorization: Bearer $(cat "$token_file")" \
    "http://127.0.0.1:${port}/stop?savepoint=${name}"
