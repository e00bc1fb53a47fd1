#!/usr/bin/env bash
# Line coverage of core/ under the whole test suite (gcc + lcov).
#   ci/coverage.sh     prints the summary; HTML in build/coverage/html
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build/coverage -DCMAKE_BUILD_TYPE=Debug -DSF_COVERAGE=ON -DSF_BENCH=OFF >/dev/null
cmake --build build/coverage -j"$jobs" >/dev/null
lcov --zerocounters --directory build/coverage >/dev/null
ctest --test-dir build/coverage -j"$jobs" --output-on-failure >/dev/null
lcov --quiet --capture --directory build/coverage --output-file build/coverage/all.info
lcov --quiet --extract build/coverage/all.info "$PWD/core/*" --output-file build/coverage/core.info
lcov --summary build/coverage/core.info
if command -v genhtml >/dev/null; then
  genhtml --quiet build/coverage/core.info --output-directory build/coverage/html
fi
