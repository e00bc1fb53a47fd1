#!/usr/bin/env bash
# Push and pull throughput against the local S3 server (ci/s3/server.js:
# s3rver behind a SigV4 check, on 127.0.0.1), against a plain `cp -r` of
# the same backup.
#
#   bench/s3.sh [CANISTERS] [STABLE_BYTES]     default 8 canisters, 16 MiB each
#
# Builds snapfleet in Release mode (build-bench/), makes a simulated backup,
# then times: push to an empty prefix, the same push again (nothing sent),
# a day-two push (a new backup of the unchanged fleet), pull into a new
# directory (every checksum recomputed and the backup verified), the same
# push and pull encrypted (--encrypt-to / --identity, to another prefix: the
# cost of encryption against the plain rows), push and pull with --jobs 1
# and --jobs 4 (each the median of three runs, to fresh prefixes and
# directories, the two alternated), and cp -r.
# Scratch data goes to bench/out/s3/ (SF_BENCH_DIR overrides bench/out).
# SF_BENCH_S3_DELAY_MS=N makes the server wait N ms before answering each
# request (a distant endpoint's round trip; ci/s3/server.js's delay file).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build="$repo/build-bench"
canisters=${1:-8}
stable=${2:-16777216}
out="${SF_BENCH_DIR:-$repo/bench/out}/s3"

cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSF_TESTS=OFF \
      -DSF_SANITIZE=OFF -DSF_FUZZ=OFF -DSF_MAN=OFF >/dev/null
cmake --build "$build" -j2 --target snapfleet_cli >/dev/null
bash "$repo/ci/s3/install.sh"
sf="$build/snapfleet"
rm -rf "$out"
mkdir -p "$out/data"
cd "$out"
: >faults
if [[ -n ${SF_BENCH_S3_DELAY_MS:-} ]]; then echo "$SF_BENCH_S3_DELAY_MS" >faults.delay; fi
SF_S3_FAULTS=$out/faults node --openssl-legacy-provider "$repo/ci/s3/server.js" data --bucket bench >port 2>server.log &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 300); do grep -q '^port ' port 2>/dev/null && break; sleep 0.1; done
endpoint=http://127.0.0.1:$(awk '/^port /{print $2}' port)
export AWS_ACCESS_KEY_ID=snapfleet-test AWS_SECRET_ACCESS_KEY=snapfleet-test-secret
export XDG_STATE_HOME=$out/state

"$sf" sim init --state fleet.json --seed 3 --canisters "$canisters" \
  --stable-min "$stable" --stable-max "$stable" >/dev/null
"$sf" backup --sim-state fleet.json --out b1 --include-root >/dev/null 2>&1
"$sf" backup --sim-state fleet.json --out b2 --include-root >/dev/null 2>&1
bytes=$(du -sb b1 | cut -f1)
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null; t1=$(date +%s.%N); awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'; }
row() { awk -v s="$1" -v t="$2" -v n="$bytes" 'BEGIN { printf "| %s | %.2f s | %.1f MiB/s |\n", s, t, n / 1048576 / t }'; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "backup: $canisters canisters, $bytes bytes; server delay per request: ${SF_BENCH_S3_DELAY_MS:-0} ms"
echo
echo "| step | time | backup bytes / time |"
echo "|---|---|---|"
row "push to an empty prefix" "$(secs "$sf" push b1 s3://bench/f --endpoint "$endpoint")"
row "the same push again (nothing sent)" "$(secs "$sf" push b1 s3://bench/f --endpoint "$endpoint")"
row "day two: the unchanged fleet's next backup" "$(secs "$sf" push b2 s3://bench/f --endpoint "$endpoint")"
row "pull (every checksum, then verify)" "$(secs "$sf" pull s3://bench/f/b1 pulled --endpoint "$endpoint")"
"$sf" keygen bench.key >/dev/null
row "push, encrypted (--encrypt-to)" "$(secs "$sf" push b1 s3://bench/e --endpoint "$endpoint" --encrypt-to bench.key.pub)"
row "pull, encrypted (--identity)" "$(secs "$sf" pull s3://bench/e/b1 pulled-enc --endpoint "$endpoint" --identity bench.key)"
# --jobs 1 against --jobs 4: three runs each, alternated, the median.
median() { sort -g | sed -n 2p; }
for j in 1 4; do : >"times-push-$j"; : >"times-pull-$j"; done
for r in 1 2 3; do
  for j in 1 4; do
    secs "$sf" push b1 "s3://bench/j$j-$r" --endpoint "$endpoint" --jobs "$j" >>"times-push-$j"
  done
done
for r in 1 2 3; do
  for j in 1 4; do
    secs "$sf" pull "s3://bench/j$j-$r/b1" "pulled-j$j-$r" --endpoint "$endpoint" --jobs "$j" >>"times-pull-$j"
  done
done
for j in 1 4; do row "push --jobs $j to an empty prefix (median of 3)" "$(median <"times-push-$j")"; done
for j in 1 4; do row "pull --jobs $j (median of 3)" "$(median <"times-pull-$j")"; done
row "cp -r of the backup" "$(secs cp -r b1 copied)"
