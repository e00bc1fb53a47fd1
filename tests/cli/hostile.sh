#!/usr/bin/env bash
# A backup directory is untrusted input: FIFOs where documents belong are
# refused at once (every command under a timeout, so a regression fails
# instead of hanging), a symlinked restore directory or staging directory
# is refused and nothing is written through it, and a run refused by a lock
# names the directory it could not lock.
if [[ -z ${TMPDIR:-} && -d /dev/shm && -w /dev/shm ]]; then export TMPDIR=/dev/shm; fi
source "$(dirname "$0")/lib.bash" "$1"

# trun ARGS...: run under a 20 s timeout; exit 124 means it hung.
trun() {
  timeout -k 5 20 "$SF" "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
}
# refused_fifo DESCRIPTION NAME ARGS...: the command fails at once (not 124)
# and the message names the FIFO as not a regular file.
refused_fifo() {
  local desc=$1 name=$2
  shift 2
  trun "$@"
  if [[ $rc == 124 || $rc == 137 ]]; then bad "$desc: hung on a FIFO"; return; fi
  if [[ $rc == 1 ]]; then ok; else bad "$desc: exit $rc, wanted 1"; fi
  expect_err "$name" "$desc names the file"
  expect_err "not a regular file" "$desc says why"
}
# fifo_no_hang DESCRIPTION NAME ARGS...: a command that may not need the
# document: it returns at once, and when it fails it names the FIFO.
fifo_no_hang() {
  local desc=$1 name=$2
  shift 2
  trun "$@"
  if [[ $rc == 124 || $rc == 137 ]]; then bad "$desc: hung on a FIFO"; return; fi
  if [[ $rc == 0 ]]; then ok; else expect_err "$name" "$desc names the file"; fi
}
# fifo_at PATH: replace PATH with a FIFO.
fifo_at() { rm -rf "$1"; mkfifo "$1"; }

S=$TMP/state.json
"$SF" sim init --state "$S" --seed 2 --canisters 3 >/dev/null || bad "sim init"
B=$TMP/b
"$SF" backup --sim-state "$S" --out "$B" --include-root >/dev/null || bad "backup"

# ---- FIFOs where a document belongs ----
fifo_at "$TMP/m.json"
refused_fifo "manifest validate" m.json manifest validate "$TMP/m.json"
refused_fifo "journal validate" m.json journal validate "$TMP/m.json"
refused_fifo "journal report" m.json journal report "$TMP/m.json"
refused_fifo "journal report --json" m.json journal report --json "$TMP/m.json"
refused_fifo "topology hash --registry" m.json topology hash --registry "$TMP/m.json" --canister aaaaa-aa
refused_fifo "sim show --state" m.json sim show --state "$TMP/m.json"
refused_fifo "sim registry --state" m.json sim registry --state "$TMP/m.json"
refused_fifo "backup --sim-state" m.json backup --sim-state "$TMP/m.json" --out "$TMP/nb"
refused_fifo "restore plan --mapping" m.json restore plan --backup "$B" --mapping "$TMP/m.json"
refused_fifo "restore run --mapping" m.json restore run --backup "$B" --sim-state "$S" --dry-run --mapping "$TMP/m.json"
trun checksum "$TMP/m.json"
[[ $rc != 124 && $rc != 137 ]] && ok || bad "checksum hung on a FIFO"
expect_rc 1 "checksum of a FIFO"

for doc in fleet-backup-manifest.json download-journal.json; do
  cp -a "$B" "$TMP/v"
  fifo_at "$TMP/v/$doc"
  refused_fifo "backup verify, FIFO $doc" "$doc" backup verify "$TMP/v"
  fifo_no_hang "backup status, FIFO $doc" "$doc" backup status "$TMP/v"
  refused_fifo "restore plan, FIFO $doc" "$doc" restore plan --backup "$TMP/v"
  rm -rf "$TMP/v"
done
for doc in backup-plan.json backup-execution-journal.json snapfleet-observations.json; do
  cp -a "$B" "$TMP/v"
  fifo_at "$TMP/v/$doc"
  fifo_no_hang "backup status, FIFO $doc" "$doc" backup status "$TMP/v"
  refused_fifo "resume, FIFO $doc" "$doc" backup --sim-state "$S" --out "$TMP/v" --include-root
  rm -rf "$TMP/v"
done

# a restore in progress: its journal, plan and observations as FIFOs
cp -a "$B" "$TMP/r"
"$SF" restore run --backup "$TMP/r" --sim-state "$S" --execute --max-steps 2 >/dev/null \
  || bad "restore two steps"
for doc in restore-apply-journal.json restore-plan.json snapfleet-restore-observations.json; do
  cp -a "$TMP/r" "$TMP/v"
  fifo_at "$TMP/v/restore/$doc"
  refused_fifo "restore run, FIFO $doc" "$doc" restore run --backup "$TMP/v" --sim-state "$S" --execute
  [[ -p "$TMP/v/restore/$doc" ]] && ok || bad "restore run replaced the FIFO $doc"
  if [[ $doc == restore-apply-journal.json ]]; then
    refused_fifo "restore status, FIFO $doc" "$doc" restore status --backup "$TMP/v"
  fi
  rm -rf "$TMP/v"
done

# ---- a symlinked restore directory ----
cp -a "$B" "$TMP/l"
mkdir "$TMP/outside"
ln -s "$TMP/outside" "$TMP/l/restore"
for mode in --execute --dry-run; do
  trun restore run --backup "$TMP/l" --sim-state "$S" $mode
  expect_rc 1 "restore run $mode through a symlinked restore/"
  expect_err "symbolic link" "symlinked restore/ $mode says why"
  expect_err "(symlink-refused)" "symlinked restore/ $mode kind"
done
trun restore status --backup "$TMP/l"; expect_rc 1 "restore status through a symlinked restore/"
expect_err "(symlink-refused)" "status symlinked restore/ kind"
[[ -z "$(ls -A "$TMP/outside")" ]] && ok || bad "something was written outside the backup"
trun restore run --backup "$TMP/l" --sim-state "$S" --execute --restore-dir "$TMP/l/restore"
expect_rc 1 "--restore-dir a symlink"; expect_err "(symlink-refused)" "--restore-dir symlink kind"
[[ -z "$(ls -A "$TMP/outside")" ]] && ok || bad "--restore-dir symlink wrote outside"
echo x >"$TMP/plainfile"
trun restore run --backup "$TMP/l" --sim-state "$S" --execute --restore-dir "$TMP/plainfile"
expect_rc 1 "--restore-dir a file"; expect_err "not a directory" "--restore-dir a file says why"
[[ $(cat "$TMP/plainfile") == x ]] && ok || bad "--restore-dir file changed"
rm "$TMP/l/restore"; echo x >"$TMP/l/restore"
trun restore run --backup "$TMP/l" --sim-state "$S" --execute
expect_rc 1 "restore/ a file"; expect_err "not a directory" "restore/ a file says why"
rm -rf "$TMP/l"

# a symlinked staging directory (the upload path stages copies there): no
# copy written through it, nothing removed
cp -a "$B" "$TMP/st"
mkdir -p "$TMP/st/restore" "$TMP/elsewhere/1"
echo keep >"$TMP/elsewhere/1/keep"
ln -s "$TMP/elsewhere" "$TMP/st/restore/staging"
trun restore run --backup "$TMP/st" --sim-state "$S" --execute --upload
expect_rc 1 "restore through a symlinked staging/"
expect_err "staging is a symbolic link" "symlinked staging/ named"
[[ $(ls -A "$TMP/elsewhere") == 1 && $(cat "$TMP/elsewhere/1/keep") == keep ]] && ok \
  || bad "staging symlink: something written or removed outside"

# ---- a restore refused by the lock names the restore directory ----
cp -a "$B" "$TMP/k"
mkdir -p "$TMP/k/restore"
exec 9>"$TMP/k/restore/.snapfleet.lock"
flock -n 9 || bad "take the lock"
trun restore run --backup "$TMP/k" --sim-state "$S" --execute
expect_rc 1 "restore run while locked"
expect_err "restore directory is locked" "lock message names the restore directory"
exec 9>&-

# ---- the simulator's state file: a refused run changes nothing ----
# fingerprint FILE: inode, size, mtime (ns) and content hash.
fingerprint() { echo "$(stat -c '%i %s %.9Y' "$1") $(sha256sum <"$1")"; }
S2=$TMP/state2.json
cp "$S" "$S2"
before=$(fingerprint "$S2")
exec 9>"$B/.snapfleet.lock"
flock -n 9 || bad "take the backup lock"
trun backup --sim-state "$S2" --out "$B" --include-root
expect_rc 1 "backup refused by the backup lock"; expect_err "backup directory is locked" "backup lock message"
[[ $(fingerprint "$S2") == "$before" ]] && ok || bad "a run refused by the backup lock rewrote the state file"
trun snapshot download --sim-state "$S2" --out "$B"
expect_rc 1 "snapshot download refused by the lock"
[[ $(fingerprint "$S2") == "$before" ]] && ok || bad "a refused snapshot download rewrote the state file"
exec 9>&-
mkdir -p "$TMP/rl/restore"; cp -a "$B"/. "$TMP/rl/"
exec 9>"$TMP/rl/restore/.snapfleet.lock"
flock -n 9 || bad "take the restore lock"
trun restore run --backup "$TMP/rl" --sim-state "$S2" --execute
expect_rc 1 "restore refused by the lock"
[[ $(fingerprint "$S2") == "$before" ]] && ok || bad "a refused restore rewrote the state file"
exec 9>&-
# the state file's own lock: held by one run, the next is refused before it reads
exec 9>"$S2.lock"
flock -n 9 || bad "take the state lock"
trun backup --sim-state "$S2" --out "$TMP/nb2" --include-root
expect_rc 1 "backup refused by the state lock"; expect_err "(sim-state-locked)" "state lock kind"
expect_err "$S2" "state lock names the file"
[[ ! -e "$TMP/nb2/backup-plan.json" ]] && ok || bad "a run refused by the state lock planned"
trun restore run --backup "$B" --sim-state "$S2" --execute
expect_rc 1 "restore refused by the state lock"; expect_err "(sim-state-locked)" "restore state lock kind"
ROOT=$("$SF" sim show --state "$S2" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["root"])')
trun sim mutate --state "$S2" --canister "$ROOT"
expect_rc 1 "sim mutate refused by the state lock"; expect_err "(sim-state-locked)" "mutate state lock kind"
trun sim init --state "$S2" --seed 9
expect_rc 1 "sim init refused by the state lock"
trun sim show --state "$S2"; expect_rc 0 "sim show reads without the lock"
[[ $(fingerprint "$S2") == "$before" ]] && ok || bad "runs refused by the state lock rewrote it"
exec 9>&-
# dry runs never rewrite it
trun restore run --backup "$B" --sim-state "$S2" --dry-run; expect_rc 0 "restore dry run"
[[ $(fingerprint "$S2") == "$before" ]] && ok || bad "restore run --dry-run rewrote the state file"
trun backup --sim-state "$S2" --out "$TMP/nb3" --include-root --dry-run; expect_rc 0 "backup dry run"
[[ $(fingerprint "$S2") == "$before" ]] && ok || bad "backup --dry-run rewrote the state file"

finish
