#!/usr/bin/env bash
# ensure_apt.sh BINARY PACKAGE: install a Debian package when its binary is missing (CI and dev machines run
# as root with apt). Used for redis-server (the Redis cache tests) and wrk (the serving benchmark).
set -euo pipefail
binary="$1"
package="${2:-$1}"
if command -v "$binary" >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure_apt: $binary is missing and this machine has no apt-get; install $package by hand" >&2
  exit 1
fi
sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo -n)
  else
    echo "ensure_apt: $binary is missing; installing $package needs root" >&2
    exit 1
  fi
fi
echo "ensure_apt: installing $package ..." >&2
"${sudo[@]}" apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$package" >&2
command -v "$binary" >/dev/null 2>&1
