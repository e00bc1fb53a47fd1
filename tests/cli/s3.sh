#!/usr/bin/env bash
# push, pull, and backup list/verify/prune on s3:// against the local S3
# server (s3rver behind a SigV4 check): the whole cycle, day-two pushes that
# send only what changed, a rerun that sends nothing, a wrong secret refused,
# a damaged object refused with nothing written, a push killed in the middle
# of a multipart upload resumed without resending acknowledged parts, and
# interoperability with the AWS SDK for JavaScript both ways.
source "$(dirname "$0")/lib.bash" "$1"
source "$(dirname "$0")/s3_lib.bash"
s3_start bkt

s3_env
count() { grep -c -- "$1" "$S3_LOG" || true; }

# Two days of backups of a simulated fleet.
run sim init --state fleet.json --seed 11 --canisters 4; expect_rc 0 "sim init"
run backup --sim-state fleet.json --out b1 --include-root; expect_rc 0 "backup b1"
run backup --sim-state fleet.json --out b2 --include-root; expect_rc 0 "backup b2"

# ---- push ----
run push b1 s3://bkt/fleet "${E[@]}" --json; expect_rc 0 "push b1"
expect_out '"already": false' "first push sends"
expect_out '"documents_sent": 6' "the index and five documents"
files=$(sed -n 's/.*"files": \([0-9]*\).*/\1/p' "$TMP/out")
# The manifest is the last object written.
last=$(grep '^PUT' "$S3_LOG" | tail -1)
if [[ $last == *"/bkt/fleet/backups/b1/fleet-backup-manifest.json "* ]]; then ok; else bad "manifest last: $last"; fi
puts=$(count '^PUT')
run push b1 s3://bkt/fleet "${E[@]}"; expect_rc 0 "push b1 again"
expect_out "already at s3://bkt/fleet: nothing sent" "a rerun sends nothing"
if [[ $(count '^PUT') == "$puts" ]]; then ok; else bad "a rerun sent objects"; fi
run push b2 s3://bkt/fleet "${E[@]}" --json; expect_rc 0 "push b2"
sent=$(sed -n 's/.*"files_sent": \([0-9]*\).*/\1/p' "$TMP/out")
# Day two: only each canister's metadata.json changed.
if ((sent > 0 && sent <= 4 && files > 8)); then ok; else bad "day two sent $sent of $files files"; fi
run push b1 s3://bkt/other "${E[@]}" --region us-east-1 --addressing path; expect_rc 0 "push to another prefix"

# A directory that does not verify is not pushed.
cp -r b1 broken
f=$(find broken -name stable_memory.bin | head -1)
printf 'x' | dd of="$f" bs=1 seek=10 conv=notrunc 2>/dev/null
run push broken s3://bkt/fleet "${E[@]}"; expect_rc 1 "unverified backup"
expect_err "(push-unverified)" "kind"
# Another backup under a name already taken is refused.
mkdir -p other && cp -r b2 other/b1
run push other/b1 s3://bkt/fleet "${E[@]}"; expect_rc 1 "name taken by another backup"
expect_err "(push-conflict)" "kind"

# ---- credentials ----
AWS_SECRET_ACCESS_KEY=wrong-secret-value run push b1 s3://bkt/x "${E[@]}"
expect_rc 1 "wrong secret"; expect_err "SignatureDoesNotMatch" "S3's code"
expect_err "HTTP 403" "the status"
if grep -q "wrong-secret-value" "$TMP/err"; then bad "the secret was printed"; else ok; fi
AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= run push b1 s3://bkt/x "${E[@]}"
expect_rc 1 "no credentials"; expect_err "(s3-config)" "kind"
mkdir -p "$HOME/.aws"
printf '[ci]\naws_access_key_id = snapfleet-test\naws_secret_access_key = snapfleet-test-secret\n' >"$HOME/.aws/credentials"
AWS_ACCESS_KEY_ID= AWS_SECRET_ACCESS_KEY= AWS_PROFILE=ci run backup list s3://bkt/fleet "${E[@]}"
expect_rc 0 "the shared credentials file, AWS_PROFILE"
AWS_ENDPOINT_URL=$S3_ENDPOINT run backup list s3://bkt/fleet; expect_rc 0 "AWS_ENDPOINT_URL"
run push b1 s3://bkt/x --endpoint http://storage.example; expect_rc 1 "plain http off loopback"
expect_err "use https" "says why"
run push b1 /tmp/x "${E[@]}"; expect_rc 2 "not an s3:// destination"
run push b1 s3://bkt/x "${E[@]}" --addressing sideways; expect_rc 2 "bad --addressing"

# ---- list ----
run backup list s3://bkt/fleet "${E[@]}" --json; expect_rc 0 "list"
expect_out '"name": "b2"' "b2 listed"; expect_out '"status": "complete"' "complete"
if [[ $(grep -o '"name": "b[12]"' "$TMP/out" | tr -d '\n') == '"name": "b2""name": "b1"' ]]; then ok
else bad "newest first"; fi
run backup list s3://bkt/fleet "${E[@]}"; expect_rc 0 "list, table"
expect_out "b1" "table names b1"

# ---- pull ----
run pull s3://bkt/fleet/b1 r1 "${E[@]}"; expect_rc 0 "pull b1"
expect_out "every checksum recomputed, verified" "says verified"
run backup verify r1; expect_rc 0 "the pulled backup verifies"
# The transition log stays behind (snapfleet-push(1)); everything else is
# carried byte for byte.
if diff -r --exclude=.snapfleet.lock --exclude=.lock --exclude=snapfleet-transitions.log b1 r1 >/dev/null; then ok; else bad "r1 differs from b1"; fi
if [[ -f b1/snapfleet-transitions.log && ! -e r1/snapfleet-transitions.log ]]; then ok; else bad "the transition log was carried or b1 has none"; fi
run pull s3://bkt/fleet/b1 r1 "${E[@]}"; expect_rc 0 "pull again"
expect_out "nothing fetched" "a rerun fetches nothing"
run pull s3://bkt/fleet/b2 r1 "${E[@]}"; expect_rc 1 "into a directory holding another backup"
expect_err "(pull-target-exists)" "kind"
run pull s3://bkt/fleet/nope r9 "${E[@]}"; expect_rc 1 "no such backup"
expect_err "(remote-incomplete)" "kind"
[[ ! -e r9 ]] && ok || bad "r9 made"

# A damaged blob: refused, nothing written where DIR would be.
sha=$(sha256sum "$(find b2 -name stable_memory.bin | head -1)" | cut -c1-64)
blob=$S3_DATA/bkt/fleet/blobs/sha256-$sha._S3rver_object
[[ -f $blob ]] && ok || bad "no blob $blob"
cp "$blob" "$TMP/blob.good"
printf 'X' | dd of="$blob" bs=1 seek=50 conv=notrunc 2>/dev/null
run pull s3://bkt/fleet/b2 r2 "${E[@]}"; expect_rc 1 "a flipped byte"
expect_err "(checksum-mismatch)" "kind"; expect_err "sha256-" "names the object"
[[ ! -e r2 ]] && ok || bad "r2 made from a damaged object"
run backup verify s3://bkt/fleet/b2 "${E[@]}"; expect_rc 1 "remote verify sees it"
expect_err "(checksum-mismatch)" "verify kind"
# Truncated.
head -c 20 "$TMP/blob.good" >"$blob"
run pull s3://bkt/fleet/b2 r2 "${E[@]}"; expect_rc 1 "a truncated object"
expect_err "(checksum-mismatch)" "kind"
# Repaired: the pull resumes from its staging directory.
cp "$TMP/blob.good" "$blob"
run pull s3://bkt/fleet/b2 r2 "${E[@]}" --json; expect_rc 0 "pull after repair"
if grep -qE '"artifacts_resumed": [1-9]' "$TMP/out"; then ok; else bad "no artifact kept from the failed pull"; fi
run backup verify r2; expect_rc 0 "r2 verifies"
run backup verify s3://bkt/fleet/b2 "${E[@]}" --json; expect_rc 0 "remote verify"
# Retries: two 503s and a dropped connection do not fail a pull.
printf '2 503\n' >"$S3_FAULTS"
run pull s3://bkt/fleet/b2 r3 "${E[@]}"; expect_rc 0 "pull through 503s"
printf '1 0\n' >"$S3_FAULTS"
run backup list s3://bkt/fleet "${E[@]}"; expect_rc 0 "list through a dropped connection"

# ---- a push killed in the middle of a multipart upload resumes ----
run backup --sim-state fleet.json --out b3 --include-root; expect_rc 0 "backup b3"
run sim mutate --state fleet.json --canister "$(sed -n 's/.*"canister_id": "\([^"]*\)".*/\1/p' b3/download-journal.json | head -1)"
run backup --sim-state fleet.json --out b4 --include-root; expect_rc 0 "backup b4"
echo 400 >"$S3_FAULTS.delay"
: >"$S3_LOG"
SNAPFLEET_PART_SIZE=16384 "$SF" push b4 s3://bkt/mp "${E[@]}" >"$TMP/bg.out" 2>"$TMP/bg.err" &
pid=$!
journal=""
for i in $(seq 600); do
  journal=$(ls "$HOME"/.local/state/snapfleet/push-*.json 2>/dev/null | head -1)
  if [[ -n $journal ]] && grep -q '"number": 2' "$journal" 2>/dev/null; then break; fi
  sleep 0.1
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
rm -f "$S3_FAULTS.delay"
if [[ -n $journal && -f $journal ]]; then ok; else bad "no push journal with two parts"; fi
cp "$journal" "$TMP/journal.at-kill"
upload=$(sed -n 's/.*"upload_id": "\([^"]*\)".*/\1/p' "$TMP/journal.at-kill" | head -1)
acked=$(grep -o '"number": [0-9]*' "$TMP/journal.at-kill" | awk '{print $2}')
run backup list s3://bkt/mp "${E[@]}"; expect_out "incomplete" "killed push is incomplete"
SNAPFLEET_PART_SIZE=16384 run push b4 s3://bkt/mp "${E[@]}" --json; expect_rc 0 "resumed push"
if grep -qE '"parts_resumed": [1-9]' "$TMP/out"; then ok; else bad "no part resumed"; fi
for n in $acked; do
  sent=$(grep -c "partNumber=$n&uploadId=$upload " "$S3_LOG")
  if [[ $sent == 1 ]]; then ok; else bad "part $n of $upload sent $sent times"; fi
done
[[ ! -e $journal ]] && ok || bad "the journal outlived the push"
run pull s3://bkt/mp/b4 r4 "${E[@]}"; expect_rc 0 "pull the resumed push"
run backup verify r4; expect_rc 0 "r4 verifies"

# ---- interoperability with the AWS SDK for JavaScript ----
if node "$SRC/tests/cli/s3_sdk.js" read "$S3_ENDPOINT" bkt fleet b2 b2 >"$TMP/sdk" 2>&1; then ok
else bad "the SDK reads what snapfleet pushed: $(cat "$TMP/sdk")"; fi
grep -q "sdk read" "$TMP/sdk" && ok || bad "sdk read nothing"
if node "$SRC/tests/cli/s3_sdk.js" upload "$S3_ENDPOINT" bkt fleet sdk b2 >"$TMP/sdk" 2>&1; then ok
else bad "the SDK uploads: $(cat "$TMP/sdk")"; fi
run pull s3://bkt/sdk/b2 r5 "${E[@]}"; expect_rc 0 "snapfleet pulls what the SDK uploaded"
run backup verify r5; expect_rc 0 "r5 verifies"

# ---- virtual-hosted addressing ----
run backup list s3://bkt/fleet --endpoint "http://s3.localhost:$S3_PORT" --addressing virtual
expect_rc 0 "virtual-hosted"; expect_out "b2" "lists"

# ---- prune ----
run backup prune s3://bkt/fleet --keep 1 --dry-run "${E[@]}"; expect_rc 0 "prune dry run"
expect_out "would delete b1" "b1 would go"
run backup list s3://bkt/fleet "${E[@]}"; expect_out "b1" "dry run deleted nothing"
blobs_before=$(ls "$S3_DATA"/bkt/fleet/blobs/*._S3rver_object | wc -l)
run backup prune s3://bkt/fleet --keep 1 "${E[@]}" --json; expect_rc 0 "prune"
expect_out '"b1"' "b1 deleted"
blobs_after=$(ls "$S3_DATA"/bkt/fleet/blobs/*._S3rver_object | wc -l)
if ((blobs_after < blobs_before)); then ok; else bad "no blob deleted ($blobs_before, $blobs_after)"; fi
run backup list s3://bkt/fleet "${E[@]}" --json
if grep -q '"name": "b1"' "$TMP/out"; then bad "b1 still listed"; else ok; fi
run backup verify s3://bkt/fleet/b2 "${E[@]}"; expect_rc 0 "b2 still verifies after the prune"
run backup prune s3://bkt/fleet "${E[@]}"; expect_rc 2 "--keep required"

s3_stop
finish
