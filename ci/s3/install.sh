#!/usr/bin/env bash
# Installs the local S3 test server's packages (s3rver, and the AWS SDK for
# JavaScript, @aws-sdk/client-s3, for the interoperability tests) into
# ci/s3/node_modules, exactly as package-lock.json pins them (`npm ci`).
# Safe to run again: nothing is fetched when the pinned tree is there.
# Installs Debian's nodejs and npm first when node or npm is missing.
#   ci/s3/install.sh
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "ci/s3/install.sh: node or npm is missing; installing Debian's nodejs and npm" >&2
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq && $sudo apt-get install -y -qq nodejs npm >/dev/null
fi
# npm ci leaves node_modules/.package-lock.json; when it matches the lock the
# tree is already what the lock pins.
if [[ -f node_modules/.package-lock.json && -d node_modules/s3rver &&
      -d node_modules/@aws-sdk/client-s3 &&
      node_modules/.package-lock.json -nt package-lock.json ]]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error >&2
