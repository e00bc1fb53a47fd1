#!/usr/bin/env bash
# The whole test run: dependencies, the include rule, an ASan+UBSan build,
# a shared Release build (its exports, then ci/install-check.sh: install,
# examples, .deb), the CMocka suite, then every libFuzzer target built with
# clang and run briefly on its corpus.
#   ci/test.sh            everything
#   SF_FUZZ_SECONDS=N     seconds per fuzz target (default 20; 0 skips fuzzing)
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/install-deps.sh
# The real icp 1.5.0 for the acceptance tests, which must then run, not skip.
bash ci/install-icp.sh >/dev/null
export SF_REQUIRE_REAL_ICP=1
# The local S3 server (s3rver behind a SigV4 check) for the S3 tests, which
# must then run, not skip.
bash ci/s3/install.sh
export SF_REQUIRE_S3=1

jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${SF_FUZZ_SECONDS:-20}

echo "== include rule =="
bash ci/check-includes.sh

echo "== build (ASan+UBSan) =="
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DSF_SANITIZE=ON -DSF_BENCH=OFF >/dev/null
cmake --build build/asan -j"$jobs"

echo "== build (Release, shared libraries: optimiser-only warnings are errors too) =="
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DSF_TESTS=OFF \
  -DBUILD_SHARED_LIBS=ON >/dev/null
cmake --build build/release -j"$jobs"
bash ci/check-exports.sh build/release

echo "== install: prefix, DESTDIR, examples (pkg-config, find_package), .deb =="
SF_REQUIRE_DEB=1 bash ci/install-check.sh build/release

echo "== tests =="
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build/asan --output-on-failure -j"$jobs"

if [[ "$fuzz_seconds" != 0 ]]; then
  echo "== fuzz (${fuzz_seconds}s per target) =="
  CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DSF_FUZZ=ON \
    -DSF_TESTS=OFF -DSF_BENCH=OFF >/dev/null
  cmake --build build/fuzz -j"$jobs"
  bash ci/fuzz.sh build/fuzz "$fuzz_seconds"
fi
echo "== all tests passed =="
