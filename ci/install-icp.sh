#!/usr/bin/env bash
# Installs DFINITY's `icp` CLI 1.5.0 (npm package @icp-sdk/icp-cli-linux-x64)
# into the project-local folder .icp-cli/, for the real-binary acceptance
# test (tests/cli/icp_real.sh). Safe to run again: nothing is fetched when
# the pinned version is already there. The only network access is npm's
# own registry fetch of that one package.
#   ci/install-icp.sh        prints the binary's path on success
set -euo pipefail
cd "$(dirname "$0")/.."

version=1.5.0
pkg=@icp-sdk/icp-cli-linux-x64
prefix=.icp-cli
bin="$prefix/node_modules/$pkg/bin/icp"

installed() {
  [[ -x "$bin" ]] && "$bin" --version 2>/dev/null | grep -qx "icp $version"
}

if ! installed; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "ci/install-icp.sh: npm is missing; installing Debian's npm" >&2
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq && $sudo apt-get install -y -qq npm >/dev/null
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "ci/install-icp.sh: npm is not installed; cannot fetch $pkg@$version" >&2
    exit 1
  fi
  echo "ci/install-icp.sh: installing $pkg@$version into $prefix/" >&2
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --no-save \
    "$pkg@$version" >&2
fi
if ! installed; then
  echo "ci/install-icp.sh: $bin is missing or is not icp $version" >&2
  exit 1
fi
echo "$PWD/$bin"
