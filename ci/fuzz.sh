#!/usr/bin/env bash
# Runs every fuzz target in BUILD_DIR for SECONDS on a scratch copy of its
# seed corpus (the committed corpus is never modified).
#   ci/fuzz.sh BUILD_DIR SECONDS
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?build dir}
seconds=${2:-20}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

status=0
for target in "$build"/fuzz_*; do
  [[ -x "$target" && -f "$target" ]] || continue
  name=$(basename "$target")
  short=${name#fuzz_}
  mkdir -p "$scratch/$short"
  if [[ -d "fuzz/corpus/$short" ]]; then cp -r "fuzz/corpus/$short/." "$scratch/$short/"; fi
  args=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10
        -artifact_prefix="$scratch/$short-")
  if [[ -f "fuzz/dict/$short.dict" ]]; then args+=(-dict="fuzz/dict/$short.dict"); fi
  echo "-- $name"
  if ! "$target" "${args[@]}" "$scratch/$short" 2>"$scratch/$short.log"; then
    echo "$name FAILED:" >&2
    tail -50 "$scratch/$short.log" >&2
    mkdir -p fuzz/artifacts
    cp "$scratch/$short"-* fuzz/artifacts/ 2>/dev/null || true
    status=1
  else
    grep -E '^#[0-9]+.*DONE' "$scratch/$short.log" | tail -1 || true
  fi
done
exit $status
