#!/usr/bin/env bash
# Runs a command (podman, buildah) with this project's container settings:
#   build/engine.sh podman images
# build/containers.conf (runc, ulimits, no network) and build/storage.conf (storage under
# /var/cache/hookrun/containers), through the environment: nothing in /etc is changed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF="$here/containers.conf" CONTAINERS_STORAGE_CONF="$here/storage.conf"
exec "$@"
