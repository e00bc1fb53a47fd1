#!/usr/bin/env bash
# Installs, from Debian's archive, whatever the build, the tests and the fuzz
# targets need and this machine lacks. Safe to run again; needs root (or sudo)
# only when something is missing. (The local S3 server's node packages:
# ci/s3/install.sh.)
set -euo pipefail

packages=(cmake make gcc clang libclang-rt-dev llvm libcjson-dev libcmocka-dev
          libssl-dev zlib1g-dev lcov openssl coreutils python3 scdoc groff-base
          man-db libcurl4-openssl-dev libxml2-dev libsodium-dev pkg-config ca-certificates)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "ci/install-deps.sh: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
