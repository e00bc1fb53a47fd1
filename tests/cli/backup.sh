#!/usr/bin/env bash
# snapshot download, backup, backup verify, backup status and sim
# init/show/registry/mutate/run through the binary: exit codes, --json
# shapes, --help, usage errors (exit 2), failures and resuming them.
# Every backup fsyncs each durable write and the simulator's state after
# each effect: on tmpfs that costs nothing, on a disk it costs minutes.
if [[ -z ${TMPDIR:-} && -d /dev/shm && -w /dev/shm ]]; then export TMPDIR=/dev/shm; fi
source "$(dirname "$0")/lib.bash" "$1"
# The system interpreter: a version manager's shim costs a second a call.
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
# expect_py_file FILE EXPR WANT DESCRIPTION: the same over a JSON file.
expect_py_file() { # FILE EXPR WANT DESCRIPTION
  local got
  got=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2")
  if [[ "$got" == "$3" ]]; then ok; else bad "$4: got '$got', wanted '$3'"; fi
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
new_fleet() { # FILE [extra sim init options]
  local f=$1; shift
  "$SF" sim init --state "$f" --seed 2 --canisters 4 --heap-min 1024 --heap-max 8192 \
    --stable-min 512 --stable-max 4096 "$@" >/dev/null || bad "sim init $f"
}

S=$TMP/fleet-state.json

# ---- conventions: --help, --version, bad options ----
for cmd in "snapshot download" "backup" "backup verify" "backup status" \
           "sim init" "sim show" "sim registry" "sim mutate" "sim run"; do
  run $cmd --help; expect_rc 0 "$cmd --help"; expect_out "usage: snapfleet $cmd" "$cmd --help"
  run $cmd --version; expect_rc 0 "$cmd --version"; expect_out "snapfleet " "$cmd --version"
  run $cmd --no-such-option; expect_rc 2 "$cmd bad option"
  expect_err "Try 'snapfleet $cmd --help'" "$cmd bad option hint"
done
run snapshot help; expect_rc 0 "snapshot help"; expect_out "download" "snapshot verbs"
run sim; expect_rc 2 "sim without verb"
run sim frobnicate; expect_rc 2 "sim unknown verb"
run backup --help; expect_out "--leave-stopped" "backup --help lists options"
expect_out "--sim-state FILE" "backup --help lists driver options"

# ---- usage errors exit 2 ----
new_fleet "$S"
run snapshot download --sim-state "$S"; expect_rc 2 "snapshot download without --out"
expect_err "--out DIR is required" "snapshot download --out message"
run snapshot download --out "$TMP/x" extra --sim-state "$S"; expect_rc 2 "snapshot download stray argument"
run snapshot download --out "$TMP/x"; expect_rc 2 "snapshot download without --sim-state or --root"
run snapshot download --out "$TMP/x" --root aaaaa-aa; expect_rc 2 "snapshot download --root without --sim-state"
run snapshot download --out "$TMP/x" --sim-state "$S" --driver icp9; expect_rc 2 "unknown driver"
run snapshot download --out "$TMP/x" --sim-state "$S" --retries 0; expect_rc 2 "--retries 0"
run snapshot download --out "$TMP/x" --sim-state "$S" --jobs 0; expect_rc 2 "snapshot download --jobs 0"
expect_err "--jobs takes a number from 1 to 64" "snapshot download --jobs message"
run snapshot download --out "$TMP/x" --sim-state "$S" --jobs 65; expect_rc 2 "snapshot download --jobs 65"
run backup --sim-state "$S"; expect_rc 2 "backup without --out"
run backup --out "$TMP/x" --sim-state "$S" --schedule sometimes; expect_rc 2 "bad --schedule"
run backup --out "$TMP/x" --sim-state "$S" --max-steps 0; expect_rc 2 "--max-steps 0"
run backup --out "$TMP/x" --sim-state "$S" --max-steps two; expect_rc 2 "--max-steps two"
run backup --out "$TMP/x" --sim-state "$S" --jobs 0; expect_rc 2 "--jobs 0"
expect_err "--jobs takes a number from 1 to 64" "--jobs message"
run backup --out "$TMP/x" --sim-state "$S" --jobs 65; expect_rc 2 "--jobs 65"
run backup --out "$TMP/x" --sim-state "$S" --jobs four; expect_rc 2 "--jobs four"
run backup --out "$TMP/x" --sim-state "$S" --subtree shard --include-root; expect_rc 2 "--subtree with --include-root"
run backup --out "$TMP/x" --root aaaaa-aa; expect_rc 2 "backup without --sim-state"
[[ ! -e "$TMP/x" ]] && ok || bad "usage errors must not create the directory"
run backup verify; expect_rc 2 "backup verify without DIR"
run backup verify "$TMP/a" "$TMP/b"; expect_rc 2 "backup verify with two DIRs"
run backup status; expect_rc 2 "backup status without DIR"
run sim init; expect_rc 2 "sim init without --state"
run sim init --state "$TMP/s.json" --seed abc; expect_rc 2 "sim init --seed abc"
run sim init --state "$TMP/s.json" --canisters 0; expect_rc 2 "sim init --canisters 0"
run sim init --state "$TMP/s.json" --seed -1; expect_rc 2 "sim init negative seed"
run sim show; expect_rc 2 "sim show without --state"
run sim registry --state "$S" --json; expect_rc 2 "sim registry takes no --json"
run sim mutate --state "$S"; expect_rc 2 "sim mutate without --canister"
run sim run; expect_rc 2 "sim run without --seeds"
run sim run --seeds 5..3; expect_rc 2 "sim run --seeds 5..3"
run sim run --seeds ..3; expect_rc 2 "sim run --seeds ..3"
run sim run --seeds 1 --canisters 0; expect_rc 2 "sim run --canisters 0"

# ---- sim init / show / registry / mutate ----
run sim init --state "$TMP/s1.json" --seed 2 --canisters 4
expect_rc 0 "sim init"; expect_out "$TMP/s1.json: 4 canisters under root " "sim init line"
# The per-stream bandwidth, the latency and the shared link go into the state.
run sim init --state "$TMP/link.json" --seed 2 --canisters 3 --latency-ms 7 \
  --bandwidth 2000 --link-bandwidth 5000
expect_rc 0 "sim init --link-bandwidth"
expect_py_file "$TMP/link.json" '[d["config"][k] for k in ("latency_ms", "bandwidth", "link_bandwidth")]' \
  "[7, 2000, 5000]" "sim init: latency, bandwidth and link in the state"
run sim init --state "$TMP/link0.json" --seed 2 --canisters 3; expect_rc 0 "sim init without a link"
expect_py_file "$TMP/link0.json" 'd["config"]["link_bandwidth"]' 0 "the link is unlimited by default"
run sim init --state "$TMP/link2.json" --link-bandwidth -1; expect_rc 2 "sim init --link-bandwidth -1"
expect_err "link-bandwidth takes a non-negative number" "sim init --link-bandwidth -1 named"
run sim init --state "$TMP/link2.json" --link-bandwidth 1152921504606846976
expect_rc 2 "sim init --link-bandwidth beyond 2^56"
expect_err "link bandwidth must be below 2^56" "sim init link bound named"
[[ ! -e "$TMP/link2.json" ]] && ok || bad "a refused sim init wrote a state"
ROOT=$(fleet "$S" 'd["root"]')
run sim show --state "$S" --json; expect_rc 0 "sim show --json"
expect_py 'd["root"]' "$ROOT" "show root"
expect_py 'len(d["canisters"])' 4 "show canisters"
expect_py 'd["canisters"][0]["parent_canister_id"]' None "root has no parent"
expect_py 'sorted(d["canisters"][0].keys())' \
  "['canister_id', 'module_hash', 'parent_canister_id', 'role', 'snapshots', 'state_digest', 'status']" \
  "canister keys"
expect_py 'set(c["status"] for c in d["canisters"])' "{'running'}" "all running"
expect_py 'sum(len(c["snapshots"]) for c in d["canisters"])' 0 "no snapshots yet"
run sim show --state "$S"; expect_rc 0 "sim show"; expect_out "$ROOT" "sim show text names the root"
run sim registry --state "$S"; expect_rc 0 "sim registry"
expect_py 'len(d["Ok"])' 4 "registry entries"
expect_py 'd["Ok"][0]["pid"]' "$ROOT" "registry starts at the root"
expect_py 'd["Ok"][1]["record"]["parent_pid"]' "$ROOT" "registry parent"
ID1=$(fleet "$S" 'd["canisters"][1]["canister_id"]')
ID2=$(fleet "$S" 'd["canisters"][2]["canister_id"]')
ID3=$(fleet "$S" 'd["canisters"][3]["canister_id"]')
cp "$S" "$TMP/m.json"
D1=$(fleet "$TMP/m.json" 'd["canisters"][1]["state_digest"]')
D2=$(fleet "$TMP/m.json" 'd["canisters"][2]["state_digest"]')
run sim mutate --state "$TMP/m.json" --canister "$ID1"; expect_rc 0 "sim mutate"
expect_out "memory of $ID1 changed" "sim mutate line"
N1=$(fleet "$TMP/m.json" 'd["canisters"][1]["state_digest"]')
[[ "$N1" != "$D1" ]] && ok || bad "mutate changes the digest"
expect_fleet "$TMP/m.json" 'd["canisters"][2]["state_digest"]' "$D2" "mutate leaves others"
run sim mutate --state "$TMP/m.json" --canister aaaaa-aa; expect_rc 1 "mutate unknown canister"
expect_err "(canister-not-found)" "mutate unknown canister kind"
run sim show --state "$TMP/nope.json"; expect_rc 1 "sim show missing state"
expect_err "nope.json" "missing state named"

# ---- snapshot download: dry run ----
run snapshot download --sim-state "$S" --out "$TMP/dry" --dry-run --resume-after-snapshot
expect_rc 0 "snapshot download --dry-run"
expect_out "icp canister stop $ROOT" "dry run stop"
expect_out "icp canister snapshot create $ROOT --json" "dry run create"
expect_out "icp canister snapshot download $ROOT '<snapshot-id>' --output $TMP/dry/$ROOT" "dry run download"
expect_out "icp canister start $ID3" "dry run start"
expect_out "$ID3 <snapshot-id> $TMP/dry/$ID3" "dry run artifact line"
[[ $(grep -c '^icp canister' "$TMP/out") == 16 ]] && ok || bad "dry run: 4 commands x 4 targets"
[[ ! -e "$TMP/dry" ]] && ok || bad "dry run touches no file"
run snapshot download --sim-state "$S" --out "$TMP/dry" --dry-run
[[ $(grep -c '^icp canister start' "$TMP/out") == 0 ]] && ok || bad "dry run without resume: no start"
expect_fleet "$S" 'sum(len(c["snapshots"]) for c in d["canisters"])' 0 "dry run: no snapshot"

# ---- snapshot download: capture, verify, status ----
cp "$S" "$TMP/sd.json"
run snapshot download --sim-state "$TMP/sd.json" --out "$TMP/sd" --resume-after-snapshot
expect_rc 0 "snapshot download"
[[ $(wc -l <"$TMP/out") == 4 ]] && ok || bad "one artifact line per target"
expect_out "$ID2 " "artifact line for $ID2"
expect_fleet "$TMP/sd.json" 'set(c["status"] for c in d["canisters"])' "{'running'}" "resumed after snapshot"
expect_fleet "$TMP/sd.json" '[len(c["snapshots"]) for c in d["canisters"]]' "[1, 1, 1, 1]" "one snapshot each"
run backup verify --json "$TMP/sd"; expect_rc 0 "backup verify --json"
expect_py 'd["verified"]' True "verified"
expect_py 'd["backup_id"]' sd "backup id = directory name"
expect_py 'd["manifest_members"], d["journal_artifacts"], d["durable_artifacts"]' "(4, 4, 4)" "verify counts"
expect_py 'len(d["artifacts"])' 4 "verify artifacts"
run backup verify "$TMP/sd"; expect_rc 0 "backup verify"; expect_out "verified sd: 4 members" "verify text"
run backup status --json "$TMP/sd"; expect_rc 0 "backup status --json"
expect_py 'd["layout_status"]' complete "status complete"
expect_py 'd["execution"]' None "no execution journal"
expect_py 'd["download"]["is_complete"]' True "download complete"
expect_py 'd["download"]["counts"]["durable"]' 4 "durable count"
expect_py 'd["download"]["operation_metrics"]["artifact_finalize_completed"]' 4 "metrics"
run backup status "$TMP/sd"; expect_rc 0 "backup status"; expect_out "Status: complete" "status text"
# Regression (fixed): the usage says `backup verify DIR [--json]`, but an option after DIR
# is refused (getopt "+hV" stops at the first operand): exit 2.
run backup verify "$TMP/sd" --json; expect_rc 0 "backup verify DIR --json (documented order)"
run backup status "$TMP/sd" --json; expect_rc 0 "backup status DIR --json (documented order)"

# the default lifecycle leaves the captured canisters stopped (canic)
cp "$S" "$TMP/stop.json"
run snapshot download --sim-state "$TMP/stop.json" --out "$TMP/stop" --canister "$ID3"
expect_rc 0 "single canister"
expect_fleet "$TMP/stop.json" '[c["status"] for c in d["canisters"]]' \
  "['running', 'running', 'running', 'stopped']" "left stopped"
run snapshot download --sim-state "$TMP/stop.json" --out "$TMP/nr" --canister "$ID3" --include-children --root aaaaa-aa
expect_rc 1 "include-children with a foreign root"

# tampering is caught
cp -r "$TMP/sd" "$TMP/tampered"
f=$(ls "$TMP/tampered/$ROOT"/wasm_memory.bin)
printf 'X' | dd of="$f" bs=1 seek=7 conv=notrunc 2>/dev/null
run backup verify "$TMP/tampered"; expect_rc 1 "tampered artifact"; expect_err "(checksum-mismatch)" "tamper kind"
run backup verify --json "$TMP/tampered"; expect_rc 1 "tampered --json"
expect_py 'd["valid"], d["error"]["kind"]' "(False, 'checksum-mismatch')" "tamper json"
run backup verify "$TMP/none"; expect_rc 1 "verify missing directory"
run backup status "$TMP/none"; expect_rc 1 "status missing directory"

# ---- snapshot download: failure, status, resume ----
# (one target after the other: with more jobs the targets after the failing
# one are already under way and end; test_backup_jobs covers that)
cp "$S" "$TMP/f.json"
run snapshot download --sim-state "$TMP/f.json" --out "$TMP/f" --resume-after-snapshot \
  --faults "create:$ID2=permanent" --jobs 1
expect_rc 1 "create fails"; expect_err "(driver-permanent)" "failure kind"
expect_fleet "$TMP/f.json" 'set(c["status"] for c in d["canisters"])' "{'running'}" "contained"
run backup status --json "$TMP/f"; expect_rc 0 "status of a failed download"
expect_py 'd["layout_status"]' running "incomplete download"
expect_py 'd["download"]["total_artifacts"]' 2 "two captured before the failure"
run backup verify "$TMP/f"; expect_rc 1 "an unfinished download does not verify"
run snapshot download --sim-state "$TMP/f.json" --out "$TMP/f" --resume-after-snapshot
expect_rc 0 "rerun completes"
run backup verify "$TMP/f"; expect_rc 0 "resumed download verifies"
expect_fleet "$TMP/f.json" '[len(c["snapshots"]) for c in d["canisters"]]' "[1, 1, 1, 1]" "no double snapshot"

# killed after its 7th durable write (kill -9), then resumed
cp "$S" "$TMP/k.json"
{ run snapshot download --sim-state "$TMP/k.json" --out "$TMP/k" --resume-after-snapshot \
  --faults crash-after-writes=7; } 2>/dev/null # bash reports the kill
expect_rc 137 "killed by crash-after-writes"
run snapshot download --sim-state "$TMP/k.json" --out "$TMP/k" --resume-after-snapshot
expect_rc 0 "rerun after a kill"
run backup verify "$TMP/k"; expect_rc 0 "verifies after a kill"
expect_fleet "$TMP/k.json" 'set(c["status"] for c in d["canisters"])' "{'running'}" "running after a kill"
expect_fleet "$TMP/k.json" '[len(c["snapshots"]) for c in d["canisters"]]' "[1, 1, 1, 1]" "no double snapshot after a kill"

# topology change between discovery and the first stop
cp "$S" "$TMP/t.json"
run snapshot download --sim-state "$TMP/t.json" --out "$TMP/t" --faults topology=module-hash
expect_rc 1 "topology change"; expect_err "(topology-changed)" "topology kind"
expect_fleet "$TMP/t.json" 'sum(len(c["snapshots"]) for c in d["canisters"])' 0 "nothing snapshotted"
expect_fleet "$TMP/t.json" 'set(c["status"] for c in d["canisters"])' "{'running'}" "nothing stopped"

# ---- backup ----
cp "$S" "$TMP/b.json"
run backup --sim-state "$TMP/b.json" --out "$TMP/b" --include-root --json
expect_rc 0 "backup --json"
expect_py 'list(d.keys())' \
  "['plan_id', 'run_id', 'backup_id', 'fleet', 'network', 'mode', 'status', 'scope', 'resumed', 'complete', 'max_steps_reached', 'targets', 'executed_operation_count', 'total_operations', 'out', 'stopped']" \
  "backup --json keys"
expect_py 'd["targets"]' 4 "backup --json targets"
expect_py 'd["status"], d["mode"], d["scope"]' "('complete', 'execute', 'maintenance-root')" "backup summary"
expect_py 'd["complete"], d["resumed"], d["max_steps_reached"]' "(True, False, False)" "backup flags"
expect_py 'd["executed_operation_count"], d["total_operations"]' "(21, 25)" "5N+1 of 4+5N+1"
expect_py 'd["backup_id"] == d["run_id"] and d["plan_id"].startswith("plan-fleet-")' True "ids"
run backup verify "$TMP/b"; expect_rc 0 "backup verifies"
run backup status --json "$TMP/b"; expect_py 'd["layout_status"]' complete "backup status complete"
expect_py 'd["execution"]["completed_operations"], d["execution"]["total_operations"]' "(25, 25)" "execution summary"
expect_fleet "$TMP/b.json" 'set(c["status"] for c in d["canisters"])' "{'running'}" "backup restarts"
run backup --sim-state "$TMP/b.json" --out "$TMP/b" --include-root --json
expect_rc 0 "rerun of a complete backup"
expect_py 'd["executed_operation_count"], d["resumed"], d["status"]' "(0, True, 'complete')" "nothing to do"
run backup --sim-state "$TMP/b.json" --out "$TMP/b" --root "$ID1"
expect_rc 1 "another root into the same directory"; expect_err "(plan-mismatch)" "plan mismatch kind"
run backup --sim-state "$TMP/b.json" --out "$TMP/b"
expect_rc 0 "text summary"; expect_out "FLEET" "table header"
# a run that stops canisters says for how long, as its JSON does
cp "$S" "$TMP/span.json"
run backup --sim-state "$TMP/span.json" --out "$TMP/span" --include-root --json
span=$(py 'd["stopped"]["fleet_span_ms"]'); most=$(py 'max(c["stopped_ms"] for c in d["stopped"]["canisters"])')
n=$(py 'len(d["stopped"]["canisters"])')
cp "$S" "$TMP/span.json"; rm -rf "$TMP/span"
run backup --sim-state "$TMP/span.json" --out "$TMP/span" --include-root
expect_rc 0 "text summary of a run"
expect_out "stopped: $n canisters, the fleet for $span ms (first stop to last start), " "stopped span in the text summary"
expect_out ", $most ms" "longest stop in the text summary"
if grep -q 'still stopped' "$TMP/out"; then bad "nothing left stopped"; else ok; fi
cp "$S" "$TMP/span.json"; rm -rf "$TMP/span"
run backup --sim-state "$TMP/span.json" --out "$TMP/span" --include-root --leave-stopped
expect_rc 0 "--leave-stopped"
expect_out "still stopped: " "--leave-stopped names what it left stopped"

# max steps: pause and resume
cp "$S" "$TMP/p.json"
run backup --sim-state "$TMP/p.json" --out "$TMP/p" --max-steps 3 --json
expect_rc 0 "paused"; expect_py 'd["status"], d["executed_operation_count"]' "('paused', 3)" "paused summary"
run backup status --json "$TMP/p"; expect_py 'd["layout_status"]' running "paused layout"
expect_py 'd["execution"]["restart_required"]' True "restart required while paused"
run backup status "$TMP/p"; expect_out "Attention:" "paused status warns"
run backup --sim-state "$TMP/p.json" --out "$TMP/p" --json
expect_py 'd["status"], d["resumed"]' "('complete', True)" "resumed to completion"
run backup verify "$TMP/p"; expect_rc 0 "paused backup verifies"

# --jobs: one at a time and many at once make the same backup, the many
# sooner in the simulator's virtual time
for n in 1 8; do
  cp "$S" "$TMP/j$n.json"
  run backup --sim-state "$TMP/j$n.json" --out "$TMP/j$n" --jobs $n --json
  expect_rc 0 "--jobs $n"; expect_py 'd["status"]' complete "--jobs $n complete"
  expect_py 'len(d["stopped"]["canisters"]) == d["targets"] and all(c["restarted"] and c["stopped_ms"] > 0 for c in d["stopped"]["canisters"])' True "--jobs $n: each target's stopped time"
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["stopped"]["fleet_span_ms"])' "$TMP/out" >"$TMP/span$n"
  run backup verify "$TMP/j$n"; expect_rc 0 "--jobs $n verifies"
done
for n in 1 8; do
  cp "$S" "$TMP/dj$n.json"
  run snapshot download --sim-state "$TMP/dj$n.json" --out "$TMP/dj$n" --jobs $n --resume-after-snapshot
  expect_rc 0 "snapshot download --jobs $n"
  run backup verify "$TMP/dj$n"; expect_rc 0 "snapshot download --jobs $n verifies"
done
clock() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["clock_ms"])' "$1"; }
(( $(clock "$TMP/j8.json") < $(clock "$TMP/j1.json") )) && ok || bad "--jobs 8 not sooner than --jobs 1"
(( $(cat "$TMP/span8") < $(cat "$TMP/span1") )) && ok || bad "--jobs 8: the fleet not stopped for less time than with --jobs 1"
(( $(clock "$TMP/dj8.json") < $(clock "$TMP/dj1.json") )) && ok || bad "snapshot download --jobs 8 not sooner"

# dry run
cp "$S" "$TMP/d.json"
run backup --sim-state "$TMP/d.json" --out "$TMP/d" --include-root --dry-run
expect_rc 0 "backup --dry-run"
expect_out "icp canister stop $ROOT" "backup dry run commands"
expect_out "--output $TMP/d/$ROOT.tmp" "backup dry run download"
run backup --sim-state "$TMP/d.json" --out "$TMP/d2" --include-root --dry-run --json
expect_py 'd["mode"], d["status"]' "('dry-run', 'planned')" "dry run summary"
run backup verify "$TMP/d"; expect_rc 1 "dry run does not verify"; expect_err "(dry-run-not-complete)" "dry run kind"
run backup status --json "$TMP/d"; expect_py 'd["layout_status"]' dry-run "dry run layout"
expect_fleet "$TMP/d.json" 'sum(len(c["snapshots"]) for c in d["canisters"])' 0 "dry run: no snapshot"

# failure, containment, rerun
cp "$S" "$TMP/e.json"
run backup --sim-state "$TMP/e.json" --out "$TMP/e" --include-root --faults "create:$ID2=permanent"
expect_rc 1 "backup fails"; expect_err "(driver-permanent)" "backup failure kind"
expect_fleet "$TMP/e.json" 'set(c["status"] for c in d["canisters"])' "{'running'}" "backup contained"
run backup status --json "$TMP/e"
expect_py 'd["layout_status"], d["execution"]["failed_operations"]' "('failed', 1)" "failed layout"
run backup --sim-state "$TMP/e.json" --out "$TMP/e" --include-root --json
expect_rc 0 "backup rerun"; expect_py 'd["status"]' complete "backup rerun complete"
run backup verify "$TMP/e"; expect_rc 0 "rerun verifies"
expect_fleet "$TMP/e.json" '[len(c["snapshots"]) for c in d["canisters"]]' "[1, 1, 1, 1]" "one snapshot each after rerun"

# --leave-stopped
cp "$S" "$TMP/l.json"
run backup --sim-state "$TMP/l.json" --out "$TMP/l" --include-root --leave-stopped --json
expect_py 'd["total_operations"], d["executed_operation_count"]' "(21, 17)" "no start operations"
expect_fleet "$TMP/l.json" 'set(c["status"] for c in d["canisters"])' "{'stopped'}" "left stopped"

# killed mid-backup, resumed
cp "$S" "$TMP/kb.json"
{ run backup --sim-state "$TMP/kb.json" --out "$TMP/kb" --include-root \
  --faults crash-after-writes=20; } 2>/dev/null
expect_rc 137 "backup killed"
# its last transitions are in its transition log only: status reads the
# checkpoint (the journal on disk) and replays the log after it
doc_done=$("$PY" -c 'import json,sys; print(sum(o["state"] == "completed" for o in json.load(open(sys.argv[1]))["operations"]))' \
  "$TMP/kb/backup-execution-journal.json")
run backup status --json "$TMP/kb"; expect_rc 0 "status of a killed backup"
expect_py "d['execution']['completed_operations'] > $doc_done" True "status reads the transition log"
cp "$TMP/kb/snapfleet-transitions.log" "$TMP/kb.log"
printf 'garbage that is not a record, followed by one that is: ' > "$TMP/kb.bad"
cat "$TMP/kb.log" >> "$TMP/kb.bad"
cp "$TMP/kb.bad" "$TMP/kb/snapfleet-transitions.log"
run backup status --json "$TMP/kb"; expect_rc 1 "a damaged log is refused"
expect_err "snapfleet-transitions.log: damaged record at offset 0" "the refusal names the log and the offset"
expect_err "(txlog-damaged)" "damaged log kind"
run backup --sim-state "$TMP/kb.json" --out "$TMP/kb" --include-root
expect_rc 1 "a run refuses a damaged log"; expect_err "(txlog-damaged)" "run refusal kind"
cmp -s "$TMP/kb.bad" "$TMP/kb/snapfleet-transitions.log" && ok || bad "the refused log was changed"
cp "$TMP/kb.log" "$TMP/kb/snapfleet-transitions.log"
run backup --sim-state "$TMP/kb.json" --out "$TMP/kb" --include-root --json
expect_rc 0 "backup rerun after a kill"; expect_py 'd["status"], d["resumed"]' "('complete', True)" "resumed after kill"
run backup verify "$TMP/kb"; expect_rc 0 "verifies after a kill"
expect_fleet "$TMP/kb.json" 'set(c["status"] for c in d["canisters"])' "{'running'}" "running after a killed backup"

# topology change fails closed
cp "$S" "$TMP/tb.json"
run backup --sim-state "$TMP/tb.json" --out "$TMP/tb" --include-root --faults topology=add-child
expect_rc 1 "backup topology change"; expect_err "(topology-preflight-hash-mismatch)" "backup topology kind"
expect_fleet "$TMP/tb.json" 'sum(len(c["snapshots"]) for c in d["canisters"])' 0 "backup topology: nothing snapshotted"
expect_fleet "$TMP/tb.json" 'set(c["status"] for c in d["canisters"])' "{'running'}" "backup topology: nothing stopped"

run backup --sim-state "$TMP/b.json" --out "$TMP/q" --faults bogus
expect_rc 1 "bad fault plan"; expect_err "(invalid-fault-plan)" "bad fault plan kind"

# subtree and per-canister schedule
cp "$S" "$TMP/st.json"
run backup --sim-state "$TMP/st.json" --out "$TMP/st" --subtree "$ID1" --schedule per-canister --json
expect_rc 0 "subtree per-canister"; expect_py 'd["scope"]' "subtree:$ID1" "subtree scope"
run backup verify --json "$TMP/st"; expect_rc 0 "subtree verifies"
run backup --sim-state "$TMP/st.json" --out "$TMP/st2" --subtree no-such-role
expect_rc 1 "unknown selector"; expect_err "(unknown-selector)" "unknown selector kind"

# ---- sim run: deterministic ----
run sim run --seeds 1..3 --canisters 3 --work "$TMP/simrun" --no-crash
expect_rc 0 "sim run"; expect_out "3 passed, 0 failed" "sim run summary"
grep -E '^seed=[0-9]+ mode=' "$TMP/out" | sed 's/ ok$//' >"$TMP/run1"
run sim run --seeds 1..3 --canisters 3 --work "$TMP/simrun" --no-crash
grep -E '^seed=[0-9]+ mode=' "$TMP/out" | sed 's/ ok$//' >"$TMP/run2"
cmp -s "$TMP/run1" "$TMP/run2" && ok || bad "sim run is deterministic"
[[ $(wc -l <"$TMP/run1") == 3 ]] && ok || bad "one line per seed"
run sim run --seeds 4 --canisters 3 --work "$TMP/simrun"
expect_rc 0 "sim run one seed"; expect_out "1 passed, 0 failed" "one seed summary"

# ---- progress: one line per operation on stderr, only on a terminal ----
new_fleet "$TMP/progress.json"
script -qec "'$SF' backup --sim-state '$TMP/progress.json' --out '$TMP/prog1' --include-root" \
  /dev/null >"$TMP/tty.out" 2>&1
if grep -q 'snapfleet: download .*: done (.* MiB/s)' "$TMP/tty.out"; then ok; else
  bad "progress on a terminal: $(head -c 300 "$TMP/tty.out")"; fi
script -qec "'$SF' backup --sim-state '$TMP/progress.json' --out '$TMP/prog2' --include-root --quiet" \
  /dev/null >"$TMP/tty.out" 2>&1
if grep -q 'snapfleet: download' "$TMP/tty.out"; then bad "--quiet still shows progress"; else ok; fi
run backup --sim-state "$TMP/progress.json" --out "$TMP/prog3" --include-root
if grep -q 'snapfleet: download' "$TMP/err"; then bad "progress without a terminal"; else ok; fi
# the status line: redrawn in place on a terminal, cleared at the end
script -qec "'$SF' backup --sim-state '$TMP/progress.json' --out '$TMP/prog4' --include-root" \
  /dev/null >"$TMP/tty.out" 2>&1
if grep -qaE $'\r[0-9.]+ [KMG]?i?B of [0-9.]+ [KMG]?i?B \\([0-9]+ %\\).* in flight\e\\[K' "$TMP/tty.out"
then ok; else bad "status line on a terminal: $(head -c 300 "$TMP/tty.out" | od -c | head)"; fi
if grep -qa $'snapfleet: download .*: done .*\n' "$TMP/tty.out" &&
   ! grep -qa $'in flight\e\\[Ksnapfleet' "$TMP/tty.out"; then ok; else
  bad "operation lines above the status line"; fi
# --progress: the same on a pipe, the status as lines of their own
run backup --sim-state "$TMP/progress.json" --out "$TMP/prog5" --include-root --progress
expect_rc 0 "backup --progress"
expect_err "snapfleet: download" "--progress: operation lines on a pipe"
grep -qE '^snapfleet: progress: .* of .*, 0 in flight$' "$TMP/err" && ok ||
  bad "--progress: status lines on a pipe: $(head -c 300 "$TMP/err")"
if grep -q $'\r' "$TMP/err"; then bad "--progress on a pipe redraws in place"; else ok; fi
run backup --sim-state "$TMP/progress.json" --out "$TMP/prog6" --include-root --progress --quiet
if [[ -s "$TMP/err" ]]; then bad "--quiet beats --progress: $(head -c 200 "$TMP/err")"; else ok; fi

finish
