#!/usr/bin/env bash
# restore plan, restore run and restore status through the binary: exit
# codes, --json, --help, usage errors (exit 2), dry runs, restoring a
# changed simulated fleet, failures and recovering from them.
# Every restore fsyncs each durable write: on tmpfs that costs nothing.
if [[ -z ${TMPDIR:-} && -d /dev/shm && -w /dev/shm ]]; then export TMPDIR=/dev/shm; fi
source "$(dirname "$0")/lib.bash" "$1"
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3

# py EXPR: evaluates EXPR with d = the JSON on stdout of the last run.
py() {
  "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$TMP/out" "$1" 2>/dev/null
}
expect_py() { # EXPR WANT DESCRIPTION
  local got
  got=$(py "$1")
  if [[ "$got" == "$2" ]]; then ok; else bad "$3: $1 = '$got', wanted '$2'"; fi
}
# fleet FILE EXPR: the same over `sim show --json`.
fleet() {
  "$SF" sim show --state "$1" --json >"$TMP/fleet.json" 2>/dev/null
  "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
    "$TMP/fleet.json" "$2"
}
expect_fleet() { # FILE EXPR WANT DESCRIPTION
  local got
  got=$(fleet "$1" "$2")
  if [[ "$got" == "$3" ]]; then ok; else bad "$4: $2 = '$got', wanted '$3'"; fi
}
expect_no_out() { # TEXT DESCRIPTION
  if grep -qF -- "$1" "$TMP/out"; then bad "$2: stdout has '$1'"; else ok; fi
}
DIGESTS='[c["state_digest"] for c in d["canisters"]]'
MODULES='[c["module_hash"] for c in d["canisters"]]'
STATUSES='[c["status"] for c in d["canisters"]]'
SNAPS='[len(c["snapshots"]) for c in d["canisters"]]'

# ---- conventions ----
for cmd in "restore plan" "restore run" "restore status"; do
  run $cmd --help; expect_rc 0 "$cmd --help"; expect_out "usage: snapfleet $cmd" "$cmd --help"
  run $cmd --version; expect_rc 0 "$cmd --version"; expect_out "snapfleet " "$cmd --version"
  run $cmd --no-such-option; expect_rc 2 "$cmd bad option"
  expect_err "Try 'snapfleet $cmd --help'" "$cmd bad option hint"
done
run restore; expect_rc 2 "restore without verb"
run restore frobnicate; expect_rc 2 "restore unknown verb"
run restore help; expect_rc 0 "restore help"; expect_out "status" "restore verbs"
run restore run --help; expect_out "--unclaim-pending" "run --help lists modes"
expect_out "--retry-failed" "run --help lists retry"; expect_out "--jobs N" "run --help lists --jobs"
expect_out "--sim-state FILE" "run --help lists driver options"

# ---- a fleet, a backup of it, then changes ----
S=$TMP/state.json
"$SF" sim init --state "$S" --seed 2 --canisters 4 --heap-min 1024 --heap-max 8192 \
  --stable-min 512 --stable-max 4096 >/dev/null || bad "sim init"
ROOT=$(fleet "$S" 'd["root"]')
ID1=$(fleet "$S" 'd["canisters"][1]["canister_id"]')
ID2=$(fleet "$S" 'd["canisters"][2]["canister_id"]')
ID3=$(fleet "$S" 'd["canisters"][3]["canister_id"]')
B=$TMP/backup
run backup --sim-state "$S" --out "$B" --include-root; expect_rc 0 "backup"
WANT_DIGESTS=$(fleet "$S" "$DIGESTS")
WANT_MODULES=$(fleet "$S" "$MODULES")
"$SF" sim mutate --state "$S" --canister "$ROOT" >/dev/null || bad "mutate root"
"$SF" sim mutate --state "$S" --canister "$ID1" >/dev/null || bad "mutate $ID1"
"$SF" sim mutate --state "$S" --canister "$ID3" >/dev/null || bad "mutate $ID3"
[[ $(fleet "$S" "$DIGESTS") != "$WANT_DIGESTS" ]] && ok || bad "mutations change digests"
cp "$S" "$TMP/mutated.json"

# ---- usage errors exit 2 and touch nothing ----
run restore run --sim-state "$S" --execute; expect_rc 2 "run without --backup"
expect_err "--backup DIR is required" "missing --backup message"
run restore run --backup "$B" --sim-state "$S"; expect_rc 2 "run without a mode"
expect_err "exactly one of" "no mode message"
run restore run --backup "$B" --sim-state "$S" --dry-run --execute; expect_rc 2 "two modes"
run restore run --backup "$B" --sim-state "$S" --unclaim-pending --retry-failed; expect_rc 2 "two recovery modes"
run restore run --backup "$B" --sim-state "$S" --execute --max-steps 0; expect_rc 2 "--max-steps 0"
run restore run --backup "$B" --sim-state "$S" --execute --max-steps two; expect_rc 2 "--max-steps two"
for j in 0 65 two -1 ""; do
  run restore run --backup "$B" --sim-state "$S" --execute --jobs "$j"; expect_rc 2 "--jobs '$j'"
  expect_err "--jobs takes a number from 1 to 64" "--jobs '$j' message"
done
run restore run --backup "$B" --sim-state "$S" --execute stray; expect_rc 2 "stray argument"
run restore run --backup "$B" --execute; expect_rc 2 "run without --sim-state"
run restore run --backup "$B" --sim-state "$S" --execute --driver icp9; expect_rc 2 "unknown driver"
run restore plan; expect_rc 2 "plan without --backup"
run restore plan --backup "$B" stray; expect_rc 2 "plan stray argument"
run restore status; expect_rc 2 "status without --backup"
[[ ! -e "$B/restore" ]] && ok || bad "usage errors create no restore directory"
cmp -s "$S" "$TMP/mutated.json" && ok || bad "usage errors leave the fleet alone"

# ---- restore plan ----
run restore plan --backup "$B"; expect_rc 0 "restore plan"
expect_py 'len(d["members"])' 4 "plan members"
expect_py 'd["members"][0]["source_canister"] == d["members"][0]["target_canister"] == "'"$ROOT"'"' True "root first, in place"
expect_py 'd["identity_summary"]["in_place_members"], d["identity_summary"]["mapping_supplied"]' "(4, False)" "in place summary"
run restore plan --backup "$B" --out "$TMP/plan.json"; expect_rc 0 "restore plan --out"
[[ ! -s "$TMP/out" ]] && ok || bad "--out prints nothing"
"$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$TMP/plan.json" && ok || bad "--out writes JSON"
run restore plan --backup "$TMP/none"; expect_rc 1 "plan of a missing backup"
[[ ! -e "$B/restore" ]] && ok || bad "restore plan writes no restore directory"

# a backup whose bytes changed is refused before planning, naming the artifact
cp -r "$B" "$TMP/tampered"
f=$(ls "$TMP/tampered/$ID2"/wasm_memory.bin)
printf 'X' | dd of="$f" bs=1 seek=5 conv=notrunc 2>/dev/null
run restore plan --backup "$TMP/tampered"; expect_rc 1 "plan of a tampered backup"
expect_err "(checksum-mismatch)" "tamper kind"; expect_err "$ID2" "tamper names the artifact"
run restore run --backup "$TMP/tampered" --sim-state "$S" --execute; expect_rc 1 "run of a tampered backup"
expect_err "(checksum-mismatch)" "run tamper kind"
[[ ! -e "$TMP/tampered/restore/restore-apply-journal.json" ]] && ok || bad "tampered: no journal"
cmp -s "$S" "$TMP/mutated.json" && ok || bad "tampered: fleet untouched"

# ---- dry run: one command per operation, nothing touched ----
run restore run --backup "$B" --sim-state "$S" --dry-run; expect_rc 0 "dry run"
[[ $(grep -c '^icp canister' "$TMP/out") == 20 ]] && ok || bad "dry run: 5 commands x 4 members"
[[ $(grep -vc '^# ' "$TMP/out") == 20 ]] && ok || bad "dry run: nothing but commands and the paths"
[[ $(grep -c '^# .* undecided (loaded from the canister if snapshot ' "$TMP/out") == 4 ]] && ok || bad "dry run: one path line per member"
[[ $(grep -c '^icp canister snapshot upload .* --input ' "$TMP/out") == 4 ]] && ok || bad "dry run uploads"
[[ $(grep -c '^icp canister snapshot restore ' "$TMP/out") == 4 ]] && ok || bad "dry run loads"
[[ $(grep -c '^icp canister stop ' "$TMP/out") == 4 ]] && ok || bad "dry run stops"
[[ $(grep -c '^icp canister start ' "$TMP/out") == 4 ]] && ok || bad "dry run starts"
[[ $(grep -c '^icp canister status .* --json$' "$TMP/out") == 4 ]] && ok || bad "dry run verifications"
expect_no_out "--resume" "dry run uploads without --resume"
[[ $(head -1 "$TMP/out") == "icp canister snapshot upload $ROOT "* ]] && ok || bad "root uploaded first"
[[ ! -e "$B/restore" ]] && ok || bad "dry run creates no restore directory"
cmp -s "$S" "$TMP/mutated.json" && ok || bad "dry run leaves the fleet alone"
run restore run --backup "$B" --sim-state "$S" --dry-run --restore-dir "$TMP/elsewhere"
expect_rc 0 "dry run elsewhere"; [[ ! -e "$TMP/elsewhere" ]] && ok || bad "dry run creates no --restore-dir"
run restore status --backup "$B"; expect_rc 1 "status before any restore"; expect_err "(no-restore)" "no restore kind"
run restore run --backup "$B" --sim-state "$S" --unclaim-pending; expect_rc 1 "unclaim with nothing pending"
expect_err "(no-pending-operation)" "unclaim kind"
run restore run --backup "$B" --sim-state "$S" --retry-failed; expect_rc 1 "retry with nothing failed"
expect_err "(no-failed-operation)" "retry kind"
cmp -s "$S" "$TMP/mutated.json" && ok || bad "recovery modes with nothing to do leave the fleet alone"

# ---- execute: the fleet comes back ----
# (--upload: the upload path; loading from the canisters comes last)
run restore run --backup "$B" --sim-state "$S" --execute --upload; expect_rc 0 "execute"
expect_out "restore complete: complete, 20 operation(s) run; next: done" "execute summary"
expect_fleet "$S" "$DIGESTS" "$WANT_DIGESTS" "digests restored"
expect_fleet "$S" "$MODULES" "$WANT_MODULES" "modules restored"
expect_fleet "$S" "$STATUSES" "['running', 'running', 'running', 'running']" "running again"
expect_fleet "$S" "$SNAPS" "[2, 2, 2, 2]" "one upload each"
run restore run --backup "$B" --sim-state "$S" --execute --upload --json; expect_rc 0 "rerun --json"
expect_py 'd["stopped"]' "{'fleet_span_ms': None, 'canisters': []}" "a rerun that stops nothing reports no stopped times"
expect_py 'd["complete"], d["outcome"]' "(True, 'complete')" "rerun report"
expect_py 'd["progress"]["completed_operations"], d["operation_count"]' "(20, 20)" "rerun counts"
expect_fleet "$S" "$SNAPS" "[2, 2, 2, 2]" "a complete rerun uploads nothing"
run restore status --backup "$B"; expect_rc 0 "status"; expect_out "complete; next action: done" "status text"
run restore status --backup "$B" --json; expect_rc 0 "status --json"
expect_py 'd["outcome"], d["attention_required"]' "('complete', False)" "status json"
run restore run --backup "$B" --sim-state "$S" --unclaim-pending; expect_rc 1 "unclaim after completion"
run restore run --backup "$B" --sim-state "$S" --retry-failed; expect_rc 1 "retry after completion"
expect_err "(no-failed-operation)" "retry after completion kind"

# another mapping into the same restore directory is refused
cat >"$TMP/ident.json" <<JSON
{"members": [
 {"source_canister": "$ROOT", "target_canister": "$ROOT"},
 {"source_canister": "$ID1", "target_canister": "$ID3"},
 {"source_canister": "$ID2", "target_canister": "$ID2"},
 {"source_canister": "$ID3", "target_canister": "$ID1"}]}
JSON
run restore plan --backup "$B" --mapping "$TMP/ident.json"; expect_rc 0 "plan with a mapping"
expect_py 'd["identity_summary"]["remapped_members"]' 2 "two remapped"
run restore run --backup "$B" --sim-state "$S" --execute --upload --mapping "$TMP/ident.json"
expect_rc 1 "another plan, same directory"; expect_err "(restore-plan-mismatch)" "mismatch kind"

# ---- max steps: pause, status, resume ----
cp "$TMP/mutated.json" "$TMP/p.json"
run restore run --backup "$B" --sim-state "$TMP/p.json" --restore-dir "$TMP/rp" --execute --upload --max-steps 3
expect_rc 0 "paused"; expect_out "restore stopped: max-steps-reached, 3 operation(s) run; next: rerun" "paused summary"
run restore status --backup "$B" --restore-dir "$TMP/rp" --json
expect_py 'd["complete"], d["progress"]["completed_operations"]' "(False, 3)" "paused status"
run restore run --backup "$B" --sim-state "$TMP/p.json" --restore-dir "$TMP/rp" --execute --upload
expect_rc 0 "resumed"; expect_out "17 operation(s) run" "resumed summary"
expect_fleet "$TMP/p.json" "$DIGESTS" "$WANT_DIGESTS" "paused restore restores"

# ---- a failure after a load: nothing restarted, retry, done ----
# (--jobs 1: canic's order, one load after the other)
cp "$TMP/mutated.json" "$TMP/f.json"
run restore run --backup "$B" --sim-state "$TMP/f.json" --restore-dir "$TMP/rf" --execute --upload \
  --faults "load:$ID2:1=permanent" --jobs 1
expect_rc 1 "load fails"; expect_err "(driver-permanent)" "load failure kind"
expect_out "command-failed" "failure summary"
expect_out "note: snapshots were already loaded" "the operator is told"
# per canister: the two loaded before ID2's refused load stay stopped for
# the operator; ID2 (refused) and the one never loaded are running again,
# as every canister of this fleet was before the restore
expect_fleet "$TMP/f.json" "$STATUSES" "['stopped', 'stopped', 'running', 'running']" "left stopped after a load"
run restore status --backup "$B" --restore-dir "$TMP/rf"; expect_rc 0 "status after a failure"
expect_out "next action: inspect-failed-operation" "status next action"; expect_out "Attention:" "status attention"
run restore status --backup "$B" --restore-dir "$TMP/rf" --json
expect_py 'd["outcome"], d["failed_operations"]' "('failed', 1)" "failed status json"
run restore run --backup "$B" --sim-state "$TMP/f.json" --restore-dir "$TMP/rf" --execute --upload
expect_rc 1 "execute refuses a failed journal"; expect_err "(failed)" "failed kind"
run restore run --backup "$B" --sim-state "$TMP/f.json" --restore-dir "$TMP/rf" --retry-failed
expect_rc 0 "retry-failed"
run restore run --backup "$B" --sim-state "$TMP/f.json" --restore-dir "$TMP/rf" --execute --upload
expect_rc 0 "execute after retry"; expect_out "restore complete" "complete after retry"
expect_fleet "$TMP/f.json" "$DIGESTS" "$WANT_DIGESTS" "restored after retry"
expect_fleet "$TMP/f.json" "$STATUSES" "['running', 'running', 'running', 'running']" "running after retry"
expect_fleet "$TMP/f.json" "$SNAPS" "[2, 2, 2, 2]" "one upload each after retry"

# ---- a failure before any load: what was stopped runs again ----
cp "$TMP/mutated.json" "$TMP/c.json"
run restore run --backup "$B" --sim-state "$TMP/c.json" --restore-dir "$TMP/rc" --execute --upload \
  --faults "stop:$ID2:1=permanent"
expect_rc 1 "stop fails"; expect_no_out "note: snapshots" "no load note before a load"
expect_fleet "$TMP/c.json" "$STATUSES" "['running', 'running', 'running', 'running']" "contained"
expect_fleet "$TMP/c.json" "$DIGESTS" "$(fleet "$TMP/mutated.json" "$DIGESTS")" "nothing loaded"
run restore run --backup "$B" --sim-state "$TMP/c.json" --restore-dir "$TMP/rc" --retry-failed; expect_rc 0 "retry"
run restore run --backup "$B" --sim-state "$TMP/c.json" --restore-dir "$TMP/rc" --execute --upload; expect_rc 0 "complete"
expect_fleet "$TMP/c.json" "$DIGESTS" "$WANT_DIGESTS" "restored after containment"

# ---- a lost upload response is reconciled, not repeated ----
cp "$TMP/mutated.json" "$TMP/l.json"
run restore run --backup "$B" --sim-state "$TMP/l.json" --restore-dir "$TMP/rl" --execute --upload \
  --faults "upload:$ID1:1=lost-response"
expect_rc 0 "lost upload response"
expect_fleet "$TMP/l.json" "$SNAPS" "[2, 2, 2, 2]" "uploaded once despite the lost response"
expect_fleet "$TMP/l.json" "$DIGESTS" "$WANT_DIGESTS" "restored despite the lost response"

# ---- killed (kill -9) after a durable write, then recovered ----
cp "$TMP/mutated.json" "$TMP/k.json"
{ run restore run --backup "$B" --sim-state "$TMP/k.json" --restore-dir "$TMP/rk" --execute --upload \
  --faults crash-after-writes=9; } 2>/dev/null
expect_rc 137 "killed by crash-after-writes"
run restore status --backup "$B" --restore-dir "$TMP/rk"; expect_rc 0 "status after a kill"
expect_out "next action: unclaim-pending" "kill leaves a pending operation"
run restore run --backup "$B" --sim-state "$TMP/k.json" --restore-dir "$TMP/rk" --execute --upload
expect_rc 1 "execute refuses a pending operation"; expect_err "(pending)" "pending kind"
expect_err "--unclaim-pending" "pending names the fix"
run restore run --backup "$B" --sim-state "$TMP/k.json" --restore-dir "$TMP/rk" --unclaim-pending
expect_rc 0 "unclaim-pending"
run restore run --backup "$B" --sim-state "$TMP/k.json" --restore-dir "$TMP/rk" --execute --upload
expect_rc 0 "execute after a kill"; expect_out "restore complete" "complete after a kill"
expect_fleet "$TMP/k.json" "$DIGESTS" "$WANT_DIGESTS" "restored after a kill"
expect_fleet "$TMP/k.json" "$STATUSES" "['running', 'running', 'running', 'running']" "running after a kill"
expect_fleet "$TMP/k.json" "$SNAPS" "[2, 2, 2, 2]" "nothing uploaded twice after a kill"

# killed right after the first upload's completion was logged (write 8:
# the plan, the journal, the log's first checkpoint marker, the claim, the
# path choice and the listing before the upload come first, write-ahead;
# --jobs 1: no other claim in between)
cp "$TMP/mutated.json" "$TMP/k6.json"
{ run restore run --backup "$B" --sim-state "$TMP/k6.json" --restore-dir "$TMP/rk6" --execute --upload \
  --faults crash-after-writes=8 --jobs 1; } 2>/dev/null
expect_rc 137 "killed after the first upload"
run restore run --backup "$B" --sim-state "$TMP/k6.json" --restore-dir "$TMP/rk6" --execute --upload
expect_rc 0 "execute after a kill between operations"
expect_fleet "$TMP/k6.json" "$DIGESTS" "$WANT_DIGESTS" "restored after a kill between operations"
expect_fleet "$TMP/k6.json" "$SNAPS" "[2, 2, 2, 2]" "nothing uploaded twice after a kill between operations"
# Regression (fixed): the staged copy of that upload (rk6/staging/0) is never removed:
# core/engine/restore_run.c removes staging/<seq> only right after the upload's
# completion is journaled, and the kill came in between.
[[ -z $(ls -A "$TMP/rk6/staging" 2>/dev/null) ]] && ok || bad "no staged copy left after a kill: $(ls "$TMP/rk6/staging")"

# ---- several operations in flight (--jobs 4, the default) ----
# a load refused while the other loads are in flight: they end and are
# recorded, the canisters loaded stay stopped for the operator
cp "$TMP/mutated.json" "$TMP/fj.json"
run restore run --backup "$B" --sim-state "$TMP/fj.json" --restore-dir "$TMP/rfj" --execute --upload \
  --faults "load:$ID2:1=permanent" --jobs 4
expect_rc 1 "a load fails among four"; expect_err "(driver-permanent)" "jobs load failure kind"
expect_fleet "$TMP/fj.json" "$STATUSES" "['stopped', 'stopped', 'running', 'stopped']" "the loaded ones left stopped"
run restore status --backup "$B" --restore-dir "$TMP/rfj" --json
expect_py 'd["failed_operations"], d["pending_operations"], d["completed_operations"]' "(1, 0, 11)" "the loads in flight recorded"
run restore run --backup "$B" --sim-state "$TMP/fj.json" --restore-dir "$TMP/rfj" --retry-failed; expect_rc 0 "jobs retry-failed"
run restore run --backup "$B" --sim-state "$TMP/fj.json" --restore-dir "$TMP/rfj" --execute --upload
expect_rc 0 "jobs execute after retry"
expect_fleet "$TMP/fj.json" "$DIGESTS" "$WANT_DIGESTS" "jobs: restored after retry"
expect_fleet "$TMP/fj.json" "$STATUSES" "['running', 'running', 'running', 'running']" "jobs: running after retry"
# the stopped times, as backup --json reports them: every canister once,
# started again, each within the fleet's span; the text says it too
cp "$TMP/mutated.json" "$TMP/sj.json"
run restore run --backup "$B" --sim-state "$TMP/sj.json" --restore-dir "$TMP/rsj" --execute --upload --json
expect_rc 0 "execute --json"
expect_py 'sorted(c["canister_id"] for c in d["stopped"]["canisters"]) == sorted(["'"$ROOT"'", "'"$ID1"'", "'"$ID2"'", "'"$ID3"'"])' True "each canister's stopped time"
expect_py 'all(c["restarted"] for c in d["stopped"]["canisters"])' True "all started again"
expect_py 'd["stopped"]["fleet_span_ms"] >= max(c["stopped_ms"] for c in d["stopped"]["canisters"]) > 0' True "the span holds each"
cp "$TMP/mutated.json" "$TMP/st.json"
run restore run --backup "$B" --sim-state "$TMP/st.json" --restore-dir "$TMP/rst" --execute --upload
expect_out "stopped: 4 canisters, the fleet for " "the text summary's stopped line"
# killed with four uploads in flight (write 10): four claims, each
# released by --unclaim-pending, and nothing uploaded twice
cp "$TMP/mutated.json" "$TMP/kj.json"
{ run restore run --backup "$B" --sim-state "$TMP/kj.json" --restore-dir "$TMP/rkj" --execute --upload \
  --faults crash-after-writes=10; } 2>/dev/null
expect_rc 137 "killed with four in flight"
run restore status --backup "$B" --restore-dir "$TMP/rkj" --json
expect_py 'd["pending_operations"]' 4 "four claims after the kill"
run restore run --backup "$B" --sim-state "$TMP/kj.json" --restore-dir "$TMP/rkj" --execute --upload
expect_rc 1 "jobs: execute refuses pending operations"; expect_err "(pending)" "jobs pending kind"
run restore run --backup "$B" --sim-state "$TMP/kj.json" --restore-dir "$TMP/rkj" --unclaim-pending
expect_rc 0 "unclaim-pending releases them all"
run restore status --backup "$B" --restore-dir "$TMP/rkj" --json
expect_py 'd["pending_operations"], d["ready_operations"]' "(0, 20)" "none pending after unclaim"
run restore run --backup "$B" --sim-state "$TMP/kj.json" --restore-dir "$TMP/rkj" --execute --upload --jobs 8
expect_rc 0 "jobs: execute after a kill"; expect_out "restore complete" "jobs: complete after a kill"
expect_fleet "$TMP/kj.json" "$DIGESTS" "$WANT_DIGESTS" "jobs: restored after a kill"
expect_fleet "$TMP/kj.json" "$SNAPS" "[2, 2, 2, 2]" "jobs: nothing uploaded twice after a kill"

# ---- relocation: one member onto another canister ----
S2=$TMP/reloc.json
"$SF" sim init --state "$S2" --seed 2 --canisters 4 --heap-min 1024 --heap-max 8192 \
  --stable-min 512 --stable-max 4096 >/dev/null || bad "sim init (relocation)"
run backup --sim-state "$S2" --out "$TMP/leaf" --subtree "$ID3"; expect_rc 0 "leaf backup"
SRC_DIGEST=$(fleet "$S2" 'd["canisters"][3]["state_digest"]')
SRC_MODULE=$(fleet "$S2" 'd["canisters"][3]["module_hash"]')
BEFORE_REST=$(fleet "$S2" '[(c["state_digest"], c["status"], len(c["snapshots"])) for c in d["canisters"] if c["canister_id"] != "'"$ID1"'"]')
cat >"$TMP/move.json" <<JSON
{"members": [{"source_canister": "$ID3", "target_canister": "$ID1"}]}
JSON
run restore plan --backup "$TMP/leaf" --mapping "$TMP/move.json"; expect_rc 0 "relocation plan"
expect_py 'd["members"][0]["target_canister"]' "$ID1" "relocation target"
run restore run --backup "$TMP/leaf" --sim-state "$S2" --mapping "$TMP/move.json" --dry-run
expect_rc 0 "relocation dry run"; [[ $(grep -c "^icp canister .* $ID1" "$TMP/out") == 5 ]] && ok || bad "every command targets $ID1"
expect_no_out "$ID3" "the source is not touched"
run restore run --backup "$TMP/leaf" --sim-state "$S2" --mapping "$TMP/move.json" --execute --upload
expect_rc 0 "relocation"
expect_fleet "$S2" 'd["canisters"][1]["state_digest"]' "$SRC_DIGEST" "target holds the source's state"
expect_fleet "$S2" 'd["canisters"][1]["module_hash"]' "$SRC_MODULE" "target runs the source's module"
expect_fleet "$S2" 'd["canisters"][1]["status"]' running "target running"
expect_fleet "$S2" '[(c["state_digest"], c["status"], len(c["snapshots"])) for c in d["canisters"] if c["canister_id"] != "'"$ID1"'"]' \
  "$BEFORE_REST" "everything else untouched"
cat >"$TMP/bad-map.json" <<JSON
{"members": [{"source_canister": "$ID3", "target_canister": "not-a-principal"}]}
JSON
run restore plan --backup "$TMP/leaf" --mapping "$TMP/bad-map.json"; expect_rc 1 "bad mapping"
expect_err "(invalid-principal)" "bad mapping kind"

# ---- in place from the snapshots still on the canisters: no upload ----
cp "$TMP/mutated.json" "$TMP/d.json"
run restore run --backup "$B" --sim-state "$TMP/d.json" --restore-dir "$TMP/rd" --execute
expect_rc 0 "restore from the canisters"
expect_fleet "$TMP/d.json" "$DIGESTS" "$WANT_DIGESTS" "digests restored from the canisters"
expect_fleet "$TMP/d.json" "$SNAPS" "[1, 1, 1, 1]" "nothing uploaded"
run restore status --backup "$B" --restore-dir "$TMP/rd"; expect_rc 0 "status after a restore from the canisters"
expect_out "member $ROOT canister " "status: the root was loaded from its canister"
run restore run --help; expect_out "--upload" "run --help lists --upload"
run restore status --help; expect_out "undecided" "status --help explains the paths"

finish
