#!/usr/bin/env bash
# push and pull --jobs N against the local S3 server: N transfers in flight
# at once and never more (the server counts the requests it holds), the
# same bytes whatever N; a push killed with several parts in flight resumes
# without resending a part it had recorded, and its journal held only
# acknowledged parts; a failure among several transfers in flight stops the
# push naming the object, the transfers in flight finish and are recorded,
# and the rerun completes; a file changed while it is being pushed (a
# whole object, a multipart one after its first part) is refused, its
# upload aborted, never stored under the name of other bytes.
source "$(dirname "$0")/lib.bash" "$1"
source "$(dirname "$0")/s3_lib.bash"
s3_start bkt
s3_env
export SNAPFLEET_PART_SIZE=16384
maxin() { awk -v re="$1" '$0 ~ re && $4 > m { m = $4 } END { print m + 0 }' "$S3_LOG"; }
journal_file() { ls "$HOME"/.local/state/snapfleet/push-*.json 2>/dev/null | head -1; }
# wait_parts N: waits (a minute at most) for a push journal recording N
# parts; sets journal.
wait_parts() {
  local i
  journal=""
  for i in $(seq 1200); do
    journal=$(journal_file)
    if [[ -n $journal ]] && (($(grep -c '"number"' "$journal" 2>/dev/null) >= $1)); then return; fi
    sleep 0.05
  done
}
# jcheck MODE JOURNAL LOG [LOG2]: prints the count of parts that break the rule.
#   acked     every part the journal records was acknowledged (200) in LOG
#   recorded  every part LOG shows acknowledged, of an upload the journal
#             holds, is recorded in it
#   resent    parts the journal records sent again in LOG2
jcheck() {
  python3 - "$@" <<'PY'
import json, re, sys
mode, jpath, log = sys.argv[1], sys.argv[2], sys.argv[3]
j = json.load(open(jpath))
ups = {u["upload_id"]: {p["number"] for p in u["parts"]} for u in j["uploads"]}
def acked(path):
    out = set()
    for line in open(path):
        m = re.match(r"PUT \S*[?&]partNumber=(\d+)&uploadId=(\S+) 200 ", line)
        if m:
            out.add((m.group(2), int(m.group(1))))
    return out
a = acked(log)
if mode == "acked":
    print(sum(1 for u, ps in ups.items() for n in ps if (u, n) not in a))
elif mode == "recorded":
    print(sum(1 for (u, n) in a if u in ups and n not in ups[u]))
else:
    again = [l for l in open(sys.argv[4]) if l.startswith("PUT ")]
    print(sum(1 for u, ps in ups.items() for n in ps
              if any("partNumber=%d&uploadId=%s " % (n, u) in l for l in again)))
PY
}

run sim init --state fleet.json --seed 5 --canisters 3 --stable-min 131072 --stable-max 131072
expect_rc 0 "sim init"
run backup --sim-state fleet.json --out b1 --include-root; expect_rc 0 "backup b1"
cp -r b1 b2
cp -r b1 b3

# ---- N in flight, never more ----
echo 150 >"$S3_FAULTS.delay"
: >"$S3_LOG"
run push b1 s3://bkt/j4 "${E[@]}" --jobs 4 --json; expect_rc 0 "push --jobs 4"
m=$(maxin '^PUT .*/blobs/')
[[ $m == 4 ]] && ok || bad "push --jobs 4 had $m requests in flight"
: >"$S3_LOG"
run push b1 s3://bkt/j1 "${E[@]}" --jobs 1; expect_rc 0 "push --jobs 1"
m=$(maxin '^PUT')
[[ $m == 1 ]] && ok || bad "push --jobs 1 had $m requests in flight"
: >"$S3_LOG"
run pull s3://bkt/j4/b1 r4 "${E[@]}" --jobs 4; expect_rc 0 "pull --jobs 4"
expect_out "every checksum recomputed, verified" "verified"
m=$(maxin '^GET .*/blobs/')
[[ $m == 4 ]] && ok || bad "pull --jobs 4 had $m requests in flight"
: >"$S3_LOG"
run pull s3://bkt/j1/b1 r1 "${E[@]}" --jobs 1; expect_rc 0 "pull --jobs 1"
m=$(maxin '^GET')
[[ $m == 1 ]] && ok || bad "pull --jobs 1 had $m requests in flight"
rm -f "$S3_FAULTS.delay"
# The same objects and the same backup whatever N.
if diff -r "$S3_DATA/bkt/j4/blobs" "$S3_DATA/bkt/j1/blobs" >/dev/null; then ok; else bad "blobs differ"; fi
run backup verify r4; expect_rc 0 "r4 verifies"
# backup verify s3:// takes --jobs as pull does
echo 150 >"$S3_FAULTS.delay"
: >"$S3_LOG"
run backup verify s3://bkt/j4/b1 "${E[@]}" --jobs 1; expect_rc 0 "verify s3:// --jobs 1"
m=$(maxin '^GET')
[[ $m == 1 ]] && ok || bad "verify --jobs 1 had $m requests in flight"
: >"$S3_LOG"
run backup verify s3://bkt/j4/b1 "${E[@]}" --jobs 3; expect_rc 0 "verify s3:// --jobs 3"
m=$(maxin '^GET .*/blobs/')
[[ $m == 3 ]] && ok || bad "verify --jobs 3 had $m requests in flight"
rm -f "$S3_FAULTS.delay"
run backup verify s3://bkt/j4/b1 "${E[@]}" --jobs 0; expect_rc 2 "verify s3:// --jobs 0"
if diff -r --exclude=.snapfleet.lock --exclude=snapfleet-transitions.log b1 r4 >/dev/null &&
  diff -r --exclude=.snapfleet.lock r1 r4 >/dev/null; then ok; else bad "the pulled copies differ"; fi
# A damaged blob among several in flight: the pull fails, nothing placed.
blob=$(ls "$S3_DATA"/bkt/j4/blobs/*._S3rver_object | head -1)
cp "$blob" "$TMP/blob.good"
printf 'X' | dd of="$blob" bs=1 seek=3 conv=notrunc 2>/dev/null
run pull s3://bkt/j4/b1 r9 "${E[@]}" --jobs 8; expect_rc 1 "pull --jobs 8 of a damaged blob"
expect_err "(checksum-mismatch)" "kind"; expect_err "blobs/sha256-" "names the object"
[[ ! -e r9 ]] && ok || bad "r9 made"
if compgen -G ".r9.snapfleet-pull/*.pull-part" >/dev/null || compgen -G ".r9.snapfleet-pull/*/*.pull-part" >/dev/null; then
  bad "a .pull-part directory stayed behind"
else ok; fi
cp "$TMP/blob.good" "$blob"
run pull s3://bkt/j4/b1 r9 "${E[@]}" --jobs 8; expect_rc 0 "the pull resumes after the repair"

# ---- usage ----
for j in 0 65 x -1 ''; do
  run push b1 s3://bkt/u "${E[@]}" --jobs "$j"; expect_rc 2 "push --jobs '$j'"
done
expect_err "1 to 64" "says the range"
run pull s3://bkt/j4/b1 r0 "${E[@]}" --jobs 65; expect_rc 2 "pull --jobs 65"
run push b1 s3://bkt/u "${E[@]}" --jobs; expect_rc 2 "--jobs without N"

# ---- killed with several parts in flight: resumed, no part sent twice ----
echo 300 >"$S3_FAULTS.delay"
: >"$S3_LOG"
"$SF" push b2 s3://bkt/kill "${E[@]}" --jobs 4 >"$TMP/bg.out" 2>"$TMP/bg.err" &
pid=$!
wait_parts 3
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
rm -f "$S3_FAULTS.delay"
sleep 0.5 # the server logs the requests it was answering
[[ -n $journal && -f $journal ]] && ok || bad "no push journal with three parts"
cp "$journal" "$TMP/journal.at-kill"
[[ $(jcheck acked "$TMP/journal.at-kill" "$S3_LOG") == 0 ]] && ok || bad "the journal held a part the server had not acknowledged"
cp "$S3_LOG" "$TMP/log.killed"
: >"$S3_LOG"
run push b2 s3://bkt/kill "${E[@]}" --jobs 4 --json; expect_rc 0 "resumed push"
if grep -qE '"parts_resumed": [1-9]' "$TMP/out"; then ok; else bad "no part resumed"; fi
[[ $(jcheck resent "$TMP/journal.at-kill" "$TMP/log.killed" "$S3_LOG") == 0 ]] && ok || bad "a recorded part was sent again"
[[ ! -e $journal ]] && ok || bad "the journal outlived the push"
run pull s3://bkt/kill/b2 rk "${E[@]}"; expect_rc 0 "pull the resumed push"

# ---- a failure among several in flight ----
echo 200 >"$S3_FAULTS.delay"
: >"$S3_LOG"
printf '1 403 partNumber=5&\n' >"$S3_FAULTS"
run push b3 s3://bkt/fail "${E[@]}" --jobs 4; expect_rc 1 "a part refused among several in flight"
expect_err "(s3-AccessDenied)" "kind"; expect_err "partNumber=5&" "names the part"
expect_err "blobs/sha256-" "names the object"
if grep -q "after [0-9]* tries" "$TMP/err"; then bad "AccessDenied was retried"; else ok; fi
journal=$(journal_file)
[[ -n $journal ]] && ok || bad "no journal after the failure"
[[ -n $journal ]] || journal=/dev/null
[[ $(jcheck acked "$journal" "$S3_LOG") == 0 ]] && ok || bad "the journal holds a part not acknowledged"
# Those in flight finished, and each acknowledged one is in the journal.
[[ $(jcheck recorded "$journal" "$S3_LOG") == 0 ]] && ok || bad "a part acknowledged is not in the journal"
if grep -q "partNumber=5&uploadId=[^ ]* 200" "$S3_LOG"; then bad "the refused part 5 went through"; else ok; fi
if grep -q "^PUT .*fleet-backup-manifest.json" "$S3_LOG"; then bad "the manifest was sent after a failure"; else ok; fi
cp "$S3_LOG" "$TMP/log.failed"
: >"$S3_LOG"
cp "$journal" "$TMP/journal.failed"
run push b3 s3://bkt/fail "${E[@]}" --jobs 4 --json; expect_rc 0 "the rerun completes"
if grep -qE '"parts_resumed": [1-9]' "$TMP/out"; then ok; else bad "no part resumed after the failure"; fi
[[ $(jcheck resent "$TMP/journal.failed" "$TMP/log.failed" "$S3_LOG") == 0 ]] && ok || bad "a part acknowledged before the failure was sent again"
rm -f "$S3_FAULTS.delay"
run pull s3://bkt/fail/b3 rf "${E[@]}" --jobs 4; expect_rc 0 "pull after the rerun"

# ---- a file changed while it is being pushed ----
# flip FILE: one byte changed in place near its end, the size kept.
flip() { local n; n=$(stat -c %s "$1"); printf '\x5a' | dd of="$1" bs=1 seek=$((n - 2)) conv=notrunc 2>/dev/null; }
cp -r b1 c1
cp -r b1 c2
# A whole object: one transfer at a time, slowly; a file not sent yet is
# changed once the first blob went.
echo 300 >"$S3_FAULTS.delay"
: >"$S3_LOG"
SNAPFLEET_PART_SIZE= "$SF" push c1 s3://bkt/chg1 "${E[@]}" --jobs 1 >"$TMP/out" 2>"$TMP/err" &
pid=$!
for i in $(seq 600); do grep -q '^PUT .*/blobs/' "$S3_LOG" && break; sleep 0.05; done
victim=$(find c1 -name stable_memory.bin | sort | tail -1)
vsha=$(sha256sum "$victim" | cut -c1-64)
grep -q "blobs/sha256-$vsha" "$S3_LOG" && bad "the file was sent before it could be changed"
flip "$victim"
wait "$pid"; rc=$?
expect_rc 1 "a whole object changed during the push"
expect_err "changed while it was being pushed" "says why"; expect_err "$victim" "names the file"
[[ ! -e $S3_DATA/bkt/chg1/blobs/sha256-$vsha._S3rver_object ]] && ok || bad "other bytes stored under $vsha"
if grep -q "^PUT .*fleet-backup-manifest.json" "$S3_LOG"; then bad "the manifest was sent"; else ok; fi
# A multipart object: changed after its first part was acknowledged; the
# upload is aborted, nothing completed under its name.
: >"$S3_LOG"
"$SF" push c2 s3://bkt/chg2 "${E[@]}" --jobs 1 >"$TMP/out" 2>"$TMP/err" &
pid=$!
wait_parts 1
key=$(sed -n 's/.*"key": "\([^"]*\)".*/\1/p' "$journal" | head -1)
upload=$(sed -n 's/.*"upload_id": "\([^"]*\)".*/\1/p' "$journal" | head -1)
vsha=${key##*sha256-}
victim=""
while IFS= read -r f; do
  [[ $(sha256sum "$f" | cut -c1-64) == "$vsha" ]] && victim=$f
done < <(find c2 -type f -name '*.bin')
[[ -n $victim ]] && ok || bad "no file of c2 is $key"
flip "$victim"
wait "$pid"; rc=$?
rm -f "$S3_FAULTS.delay"
expect_rc 1 "a multipart object changed during the push"
expect_err "changed while it was being pushed" "says why"; expect_err "$victim" "names the file"
# (s3rver does not implement AbortMultipartUpload and answers 405: the
# request is what is checked.)
grep -q "^DELETE .*uploadId=$upload " "$S3_LOG" && ok || bad "upload $upload not aborted"
if grep -q "^POST .*uploadId=$upload " "$S3_LOG"; then bad "upload $upload completed"; else ok; fi
[[ ! -e $S3_DATA/bkt/chg2/blobs/sha256-$vsha._S3rver_object ]] && ok || bad "other bytes stored under $vsha"
if [[ -n $(journal_file) ]] && grep -q "$upload" "$(journal_file)"; then bad "the aborted upload stayed in the journal"; else ok; fi

s3_stop
finish
