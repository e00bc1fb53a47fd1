#!/usr/bin/env bash
# A long fuzzing campaign, outside .ci/run: every target in turn, under
# ASan+UBSan, for a number of executions; then the inputs it grew that reach
# new features (libFuzzer's -merge) join fuzz/corpus/<target>, so CI's short
# runs start from them, and one line per run is appended to fuzz/campaign.tsv.
#
#   fuzz/campaign.sh [--runs N] [--seconds S] [--build DIR] [TARGET...]
#
#   --runs N      executions per target (default 10000000)
#   --seconds S   stop a target after S seconds even if N is not reached
#                 (default: no limit); the line records what was reached
#   --build DIR   the libFuzzer build (default build/fuzz; built if absent)
#   --nice N      the niceness it runs at (default 19)
#   TARGET        short names (manifest, restore_journal, ...); default all
#
# By default it runs at nice 19, so it only takes CPU nothing else wants;
# --nice 5 gives it a share beside builds when the campaign is the priority.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=10000000
seconds=0
build=build/fuzz
niceness=19
targets=()
while (($#)); do
  case "$1" in
    --runs) runs=${2:?}; shift 2 ;;
    --seconds) seconds=${2:?}; shift 2 ;;
    --build) build=${2:?}; shift 2 ;;
    --nice) niceness=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "campaign.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

if [[ ! -x "$build/fuzz_principal" ]]; then
  CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DSF_FUZZ=ON \
    -DSF_TESTS=OFF -DSF_BENCH=OFF >/dev/null
  nice -n "$niceness" cmake --build "$build" -j"$(nproc)"
fi
if ((${#targets[@]} == 0)); then
  for t in "$build"/fuzz_*; do
    [[ -x "$t" && -f "$t" ]] && targets+=("${t##*/fuzz_}")
  done
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
results=fuzz/campaign.tsv
[[ -f "$results" ]] ||
  printf 'date\ttarget\truns\tseconds\tcov\tft\tcorpus_files\tresult\n' >"$results"

status=0
for short in "${targets[@]}"; do
  bin="$build/fuzz_$short"
  [[ -x "$bin" ]] || { echo "no target $bin" >&2; exit 2; }
  mkdir -p "$work/$short" "fuzz/corpus/$short"
  cp -r "fuzz/corpus/$short/." "$work/$short/"
  # A generous timeout: niced, a target can be starved of the CPU for
  # many seconds while builds run, and libFuzzer would call that a hang.
  args=(-runs="$runs" -rss_limit_mb=2048 -timeout=120 -print_final_stats=1
        -artifact_prefix="$work/$short-")
  ((seconds > 0)) && args+=(-max_total_time="$seconds")
  # The documents whose harness drives a state machine over every
  # operation cost in proportion to the journal's size: mutating small
  # journals (one to four operations) is what makes ten million runs
  # affordable. The large named seeds still load, truncated.
  case $short in
    restore_journal|restore_plan|execjournal|plan|manifest) args+=(-max_len=4096) ;;
  esac
  [[ -f "fuzz/dict/$short.dict" ]] && args+=(-dict="fuzz/dict/$short.dict")
  echo "-- $short: up to $runs runs" >&2
  start=$(date +%s)
  result=ok
  if ! ASAN_OPTIONS=detect_leaks=1 nice -n "$niceness" "$bin" "${args[@]}" "$work/$short" \
      >"$work/$short.log" 2>&1; then
    result=FAILED
    status=1
    mkdir -p fuzz/artifacts
    cp "$work/$short"-* fuzz/artifacts/ 2>/dev/null || true
    tail -40 "$work/$short.log" >&2
  fi
  elapsed=$(($(date +%s) - start))
  done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$short.log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$work/$short.log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  # Add to the committed corpus only the grown inputs that reach new
  # features (libFuzzer's merge keeps the named seeds as they are). Only on
  # success: a crashing input belongs in fuzz/artifacts/, not in the seeds.
  if [[ $result == ok ]]; then
    nice -n "$niceness" "$bin" -merge=1 -rss_limit_mb=2048 -timeout=120 \
      "fuzz/corpus/$short" "$work/$short" >"$work/$short.merge.log" 2>&1
  fi
  files=$(find "fuzz/corpus/$short" -type f | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%F)" "$short" \
    "${done_runs:-0}" "$elapsed" "${cov:-?}" "${ft:-?}" "$files" "$result" \
    | tee -a "$results"
  rm -rf "$work/$short" "$work/$short".*
done
exit $status
