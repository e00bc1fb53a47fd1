#!/usr/bin/env bash
# sim run through the binary: --fanout and --depth, any fleet size up to
# 10,000 (the shape chosen when not given), --disk sim|posix, --workers N
# (the same output for any N), and each refusal (exit 2, one clear line).
if [[ -z ${TMPDIR:-} && -d /dev/shm && -w /dev/shm ]]; then export TMPDIR=/dev/shm; fi
source "$(dirname "$0")/lib.bash" "$1"

# ---- refusals ----
run sim run --seeds 1 --fanout 0; expect_rc 2 "--fanout 0"
expect_err "--fanout takes 1 or more, not 0" "--fanout 0 message"
run sim run --seeds 1 --fanout x; expect_rc 2 "--fanout x"
run sim run --seeds 1 --depth 0; expect_rc 2 "--depth 0"
expect_err "--depth takes 1 to 64, not 0" "--depth 0 message"
run sim run --seeds 1 --depth 65; expect_rc 2 "--depth 65"
expect_err "--depth takes 1 to 64, not 65" "--depth 65 message"
run sim run --seeds 1 --canisters 10001; expect_rc 2 "--canisters 10001"
expect_err "--canisters takes 1 to 10000, not 10001" "too many canisters message"
run sim run --seeds 1 --canisters 0; expect_rc 2 "--canisters 0"
run sim run --seeds 1 --canisters 50 --fanout 2 --depth 2; expect_rc 2 "50 in 2 x 2"
expect_err "50 canisters do not fit a tree of fan-out 2 and depth 2 (it holds at most 7); give a larger --fanout or --depth, or fewer --canisters" "no-fit message"
run sim run --seeds 1 --canisters 100 --fanout 1; expect_rc 2 "100 in a chain"
expect_err "100 canisters do not fit a tree of fan-out 1 and depth 64 (it holds at most 65)" "chain message"
run sim init --state "$TMP/f.json" --canisters 8 --fanout 2 --depth 2; expect_rc 2 "sim init 8 in 2 x 2"
[[ -e "$TMP/f.json" ]] && bad "a refused sim init wrote its state" || ok

# ---- the shape: given, or chosen for the size ----
run sim run --seeds 1 --canisters 6 --no-crash --work "$TMP/w"
expect_rc 0 "default shape"; expect_out "# 6 canisters, fan-out 3, depth 3" "default shape line"
run sim run --seeds 1 --canisters 12 --fanout 1 --depth 11 --no-crash --work "$TMP/w"
expect_rc 0 "a chain of 12"; expect_out "# 12 canisters, fan-out 1, depth 11" "chain line"
expect_out "1 passed, 0 failed" "a chain of 12 passes"
run sim run --seeds 2 --canisters 9 --depth 1 --work "$TMP/w"
expect_rc 0 "flat 9"; expect_out "# 9 canisters, fan-out 8, depth 1" "flat: the fan-out chosen"
run sim run --seeds 2 --canisters 5 --fanout 2 --no-crash --work "$TMP/w"
expect_rc 0 "fan-out 2"; expect_out "# 5 canisters, fan-out 2, depth 3" "fan-out given, depth kept"
run sim run --seeds 1 --canisters 10000 --help; expect_rc 0 "--help"
# sizes past the default tree's 40: the shape widens (the runs themselves are
# exercised at 41 below)
run sim init --state "$TMP/big.json" --canisters 10000
expect_rc 0 "sim init 10000"; expect_out "10000 canisters" "sim init 10000 line"
run sim run --seeds 3 --canisters 41 --no-crash --work "$TMP/w"
expect_rc 0 "41 canisters"; expect_out "# 41 canisters, fan-out 4, depth 3" "41: fan-out 4"
expect_out "1 passed, 0 failed" "41 canisters pass"

# ---- --disk and --workers ----
run sim run --seeds 1 --disk floppy; expect_rc 2 "--disk floppy"
expect_err "--disk takes sim or posix, not \`floppy\`" "--disk message"
run sim run --seeds 1 --workers 0; expect_rc 2 "--workers 0"
expect_err "--workers takes 1 to 64, not 0" "--workers 0 message"
run sim run --seeds 1 --workers 65; expect_rc 2 "--workers 65"
run sim run --seeds 1 --daily --disk sim; expect_rc 2 "--daily on the simulated disk"
expect_err "--daily runs on the POSIX disk only" "--daily --disk message"
run sim run --seeds 11 --canisters 4 --work "$TMP/w"
expect_rc 0 "default disk"; expect_out "disk sim" "the simulated disk by default"
expect_out "seed=11 " "seed 11 line"; expect_out " disk=sim" "seed line names the disk"
run sim run --seeds 11 --canisters 4 --disk posix --work "$TMP/w"
expect_rc 0 "--disk posix"; expect_out "# 4 canisters, fan-out 3, depth 3, disk posix" "posix header"
expect_out " disk=posix " "posix seed line"
# the same seeds, spread over 1, 2 or 3 workers: the same output, byte for byte
run sim run --seeds 1..7 --canisters 4 --workers 1 --work "$TMP/w"
expect_rc 0 "one worker"; cp "$TMP/out" "$TMP/w1.txt"
expect_out "7 passed, 0 failed, digest " "summary with digest"
expect_out " jobs=" "seed lines name the jobs drawn"
[[ $(grep -o ' jobs=[0-9]*' "$TMP/w1.txt" | sort -u | wc -l) -gt 1 ]] && ok || bad "seeds draw several --jobs"
expect_out " link=" "seed lines name the shared link drawn"
grep -q ' link=0 ' "$TMP/w1.txt" && grep -qE ' link=[1-9][0-9]* ' "$TMP/w1.txt" && ok ||
  bad "seeds draw a shared link or none"
run sim run --seeds 1..7 --canisters 4 --workers 2 --work "$TMP/w"
expect_rc 0 "two workers"
cmp -s "$TMP/w1.txt" "$TMP/out" && ok || bad "--workers 2 prints what --workers 1 does"
run sim run --canisters 4 --workers 3 --seeds 1..7 --work "$TMP/w"
cmp -s "$TMP/w1.txt" "$TMP/out" && ok || bad "--workers 3 prints what --workers 1 does"
run sim run --seeds 5 --canisters 4 --workers 4 --work "$TMP/w"
expect_rc 0 "more workers than seeds"; expect_out "1 passed, 0 failed" "one seed, four workers"

# ---- the simulated disk alone: nothing on the real file system ----
run sim run --seeds 1..4 --canisters 4 --work "$TMP/none/deeper"
expect_rc 0 "seeds on the simulated disk alone"
[[ ! -e "$TMP/none" ]] && ok || bad "a seed on the simulated disk made its work directory"
run sim run --seeds 2 --canisters 4 --keep --work "$TMP/kept"
expect_rc 0 "--keep on the simulated disk"
[[ -f "$TMP/kept/seed-2/backup/fleet-backup-manifest.json" ]] && ok ||
  bad "--keep copies the seed's tree from the simulated disk"
run backup verify "$TMP/kept/seed-2/backup"
expect_rc 0 "the kept backup verifies on the real file system"

# a worker killed mid-run takes only the seed it ran: the others take the
# seeds it would have run next (a worker's own stripe of seeds would lose
# about half of those left)
"$SF" sim run --seeds 1..200 --canisters 4 --workers 2 --work "$TMP/wk" \
  >"$TMP/killed.txt" 2>/dev/null &
parent=$!
for _ in $(seq 1 200); do
  [[ $(grep -c '^seed=' "$TMP/killed.txt") -ge 5 ]] && break
  sleep 0.05
done
victim=$(pgrep -P "$parent" | head -1)
[[ -n $victim ]] && kill -KILL "$victim"
wait "$parent"
summary=$(tail -1 "$TMP/killed.txt")
k_failed=$(sed -n 's/^[0-9]* passed, \([0-9]*\) failed.*/\1/p' <<<"$summary")
k_passed=$(sed -n 's/^\([0-9]*\) passed,.*/\1/p' <<<"$summary")
[[ -n $victim && $((k_passed + k_failed)) -eq 200 && $k_failed -le 1 ]] && ok ||
  bad "a killed worker loses at most its one seed ($summary)"
[[ $k_failed -eq 0 ]] || grep -q 'error: its worker process died' "$TMP/killed.txt" && ok ||
  bad "the lost seed is reported"
finish
