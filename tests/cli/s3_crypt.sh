#!/usr/bin/env bash
# push --encrypt-to, pull/backup verify/list/prune --identity against the
# local S3 server: nothing readable leaves the machine (no plaintext
# document, no file's SHA-256 as a name), the pushing machine needs only
# the .pub file, and a wrong key, a truncated object, a flipped byte,
# reordered chunks and an object swapped for another are each refused with
# their own kind, with nothing written where the pulled backup would stand.
# A killed encrypted multipart push resumes the same stream.
source "$(dirname "$0")/lib.bash" "$1"
source "$(dirname "$0")/s3_lib.bash"
s3_start bkt

s3_env
objects() { find "$S3_DATA/bkt/$1" -name '*._S3rver_object' | sort; }

run keygen k; expect_rc 0 "keygen k"
run keygen k2; expect_rc 0 "keygen k2"
secret=$(sed -n 's/^secret-key: //p' k)
run sim init --state fleet.json --seed 11 --canisters 4; expect_rc 0 "sim init"
run backup --sim-state fleet.json --out b1 --include-root; expect_rc 0 "backup b1"
run backup --sim-state fleet.json --out b2 --include-root; expect_rc 0 "backup b2"

# ---- push, encrypted ----
run push b1 s3://bkt/enc "${E[@]}" --encrypt-to k.pub --json; expect_rc 0 "encrypted push"
expect_out '"documents_sent": 6' "index and documents sent"
n_enc=$(objects enc/blobs | grep -c '/blobs/enc-[0-9a-f]\{64\}\._S3rver_object$')
n_all=$(objects enc/blobs | wc -l)
if ((n_enc > 8 && n_enc == n_all)); then ok; else bad "blobs named enc-: $n_enc of $n_all"; fi
# No object is named by a file's SHA-256, and no object holds plaintext.
leaks=0
while IFS= read -r f; do
  sha=$(sha256sum "$f" | cut -c1-64)
  if objects enc | grep -q "$sha"; then leaks=$((leaks + 1)); fi
done < <(find b1 -type f ! -name '.*')
((leaks == 0)) && ok || bad "$leaks object names are a file's SHA-256"
backup_id=$(sed -n 's/.*"backup_id": "\([^"]*\)".*/\1/p' b1/fleet-backup-manifest.json | head -1)
[[ -n $backup_id ]] && ok || bad "no backup id in b1"
if grep -rl --include='*._S3rver_object' -e "$backup_id" -e '"canister_id"' "$S3_DATA/bkt/enc" >/dev/null; then
  bad "plaintext in the bucket"
else ok; fi
plain=0
while IFS= read -r f; do [[ $(head -c 5 "$f") == sfenc ]] || plain=$((plain + 1)); done < <(objects enc)
((plain == 0)) && ok || bad "$plain objects are not encrypted"
run push b1 s3://bkt/enc "${E[@]}" --encrypt-to k.pub; expect_rc 0 "encrypted push again"
expect_out "nothing sent" "a rerun sends nothing (content tag)"
run push b2 s3://bkt/enc "${E[@]}" --encrypt-to k.pub --json; expect_rc 0 "day two, encrypted"
sent=$(sed -n 's/.*"files_sent": \([0-9]*\).*/\1/p' "$TMP/out")
if ((sent > 0 && sent <= 4)); then ok; else bad "day two sent $sent files"; fi
run push b1 s3://bkt/enc "${E[@]}" --encrypt-to k2.pub; expect_rc 1 "another key pair, same name"
expect_err "(push-conflict)" "kind"; expect_err "another key pair" "says why"
run push b1 s3://bkt/enc "${E[@]}"; expect_rc 1 "plain push over an encrypted backup"
expect_err "holds an encrypted backup" "says why"
run push b1 s3://bkt/enc "${E[@]}" --encrypt-to k; expect_rc 1 "--encrypt-to an identity"
expect_err "(crypt-key)" "kind"; expect_err "encrypt to its .pub" "says why"
run push b1 s3://bkt/enc "${E[@]}" --encrypt-to nope.pub; expect_rc 1 "--encrypt-to a missing file"
run push b1 s3://bkt/enc "${E[@]}" --encrypt-to; expect_rc 2 "--encrypt-to without a file"

# ---- list ----
run backup list s3://bkt/enc "${E[@]}" --json; expect_rc 0 "list without the identity"
expect_out '"encrypted": true' "encrypted"; expect_out '"created_at": null' "no time without the key"
run backup list s3://bkt/enc "${E[@]}"; expect_out "(encrypted)" "table says encrypted"
run backup list s3://bkt/enc "${E[@]}" --identity k --json; expect_rc 0 "list with the identity"
expect_out "\"backup_id\": \"$backup_id\"" "decrypted manifest"

# ---- pull ----
run pull s3://bkt/enc/b1 r0 "${E[@]}"; expect_rc 1 "pull without the identity"
expect_err "(remote-encrypted)" "kind"; expect_err "--identity" "says what to give"
[[ ! -e r0 ]] && ok || bad "r0 made"
run pull s3://bkt/enc/b1 r1 "${E[@]}" --identity k; expect_rc 0 "pull with the identity"
if diff -r --exclude=.snapfleet.lock --exclude=.lock --exclude=snapfleet-transitions.log b1 r1 >/dev/null; then ok; else bad "r1 differs from b1"; fi
run backup verify r1; expect_rc 0 "r1 verifies"
run pull s3://bkt/enc/b1 r1 "${E[@]}" --identity k; expect_rc 0 "pull again"
expect_out "nothing fetched" "already there"
run backup verify s3://bkt/enc/b2 "${E[@]}" --identity k; expect_rc 0 "remote verify, decrypted"
cp k kopen; chmod 644 kopen
run pull s3://bkt/enc/b1 rx "${E[@]}" --identity kopen; expect_rc 1 "a readable identity"
expect_err "(crypt-key-mode)" "kind"
run pull s3://bkt/enc/b1 rx "${E[@]}" --identity k.pub; expect_rc 1 "a .pub as identity"
expect_err "cannot decrypt" "says why"
# Wrong key: refused, nothing written.
run pull s3://bkt/enc/b1 r2 "${E[@]}" --identity k2; expect_rc 1 "wrong key"
expect_err "(crypt-wrong-key)" "kind"; expect_err "wrong --identity" "says so"
[[ ! -e r2 && ! -e .r2.snapfleet-pull ]] && ok || bad "wrong key wrote something"
# A plain backup is refused when an identity is given (no downgrade).
run push b1 s3://bkt/plain "${E[@]}"; expect_rc 0 "plain push"
run pull s3://bkt/plain/b1 r2 "${E[@]}" --identity k; expect_rc 1 "plain objects with --identity"
expect_err "(crypt-format)" "kind"
[[ ! -e r2 ]] && ok || bad "r2 made from plain objects"

# ---- damaged objects: each refused, r2 never made ----
blob=$(ls -S $(objects enc/blobs) | head -1)
other=$(ls -S $(objects enc/blobs) | sed -n 2p)
size=$(stat -c %s "$blob")
((size > 3 * 65553 + 188)) && ok || bad "the largest object has fewer than 4 chunks ($size bytes)"
cp "$blob" "$TMP/blob.good"
refused() { # KIND WHAT
  rm -rf r2 .r2.snapfleet-pull
  run pull s3://bkt/enc/b2 r2 "${E[@]}" --identity k; expect_rc 1 "$2"
  expect_err "($1)" "$2: kind"
  [[ ! -e r2 ]] && ok || bad "$2: r2 made"
  if [[ -d .r2.snapfleet-pull ]] && find .r2.snapfleet-pull -name '*.pull-part' | grep -q .; then
    bad "$2: a partial file left in the staging directory"
  else ok; fi
  cp "$TMP/blob.good" "$blob"
}
printf 'X' | dd of="$blob" bs=1 seek=70000 conv=notrunc 2>/dev/null
refused crypt-auth "a flipped byte"
head -c $((188 + 2 * 65553)) "$TMP/blob.good" >"$blob"
refused crypt-truncated "truncated after two chunks"
head -c 100 "$TMP/blob.good" >"$blob"
refused crypt-truncated "truncated inside the header"
python3 - "$blob" <<'PY'
import sys
p = sys.argv[1]; d = bytearray(open(p, 'rb').read()); c = 65536 + 17; h = 188
d[h:h + c], d[h + c:h + 2 * c] = d[h + c:h + 2 * c], d[h:h + c]
open(p, 'wb').write(d)
PY
refused crypt-auth "reordered chunks"
expect_err "chunks reordered" "says reordered"
cp "$other" "$blob"
refused crypt-swapped "an object swapped for another"
# A document swapped for another backup's.
m1=$S3_DATA/bkt/enc/backups/b1/fleet-backup-manifest.json._S3rver_object
m2=$S3_DATA/bkt/enc/backups/b2/fleet-backup-manifest.json._S3rver_object
cp "$m2" "$TMP/m2.good"; cp "$m1" "$m2"
rm -rf r2 .r2.snapfleet-pull
run pull s3://bkt/enc/b2 r2 "${E[@]}" --identity k; expect_rc 1 "b1's manifest under b2's name"
expect_err "(crypt-swapped)" "kind"
[[ ! -e r2 ]] && ok || bad "r2 made from a swapped manifest"
cp "$TMP/m2.good" "$m2"
run backup verify s3://bkt/enc/b2 "${E[@]}" --identity k; expect_rc 0 "repaired: verifies"
printf 'X' | dd of="$blob" bs=1 seek=300 conv=notrunc 2>/dev/null
run backup verify s3://bkt/enc/b2 "${E[@]}" --identity k; expect_rc 1 "remote verify sees a flipped byte"
expect_err "(crypt-auth)" "kind"
cp "$TMP/blob.good" "$blob"
rm -rf .r2.snapfleet-pull
run pull s3://bkt/enc/b2 r2 "${E[@]}" --identity k; expect_rc 0 "repaired: pulls"
run backup verify r2; expect_rc 0 "r2 verifies"

# ---- a killed encrypted multipart push resumes the same stream ----
echo 400 >"$S3_FAULTS.delay"
: >"$S3_LOG"
SNAPFLEET_PART_SIZE=16384 "$SF" push b1 s3://bkt/mp "${E[@]}" --encrypt-to k.pub >"$TMP/bg.out" 2>"$TMP/bg.err" &
pid=$!
journal=""
for i in $(seq 600); do
  journal=$(ls "$HOME"/.local/state/snapfleet/push-*.json 2>/dev/null | head -1)
  if [[ -n $journal ]] && grep -q '"number": 2' "$journal" 2>/dev/null; then break; fi
  sleep 0.1
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
rm -f "$S3_FAULTS.delay"
[[ -n $journal && -f $journal ]] && ok || bad "no push journal with two parts"
grep -q '"seed": "[0-9a-f]\{64\}"' "$journal" && ok || bad "the journal holds no stream seed"
[[ $(stat -c %a "$journal") == 600 ]] && ok || bad "journal mode $(stat -c %a "$journal")"
upload=$(sed -n 's/.*"upload_id": "\([^"]*\)".*/\1/p' "$journal" | head -1)
acked=$(grep -o '"number": [0-9]*' "$journal" | awk '{print $2}')
SNAPFLEET_PART_SIZE=16384 run push b1 s3://bkt/mp "${E[@]}" --encrypt-to k.pub --json
expect_rc 0 "resumed encrypted push"
if grep -qE '"parts_resumed": [1-9]' "$TMP/out"; then ok; else bad "no part resumed"; fi
for n in $acked; do
  sent=$(grep -c "partNumber=$n&uploadId=$upload " "$S3_LOG")
  [[ $sent == 1 ]] && ok || bad "part $n of $upload sent $sent times"
done
[[ ! -e $journal ]] && ok || bad "the journal outlived the push"
run pull s3://bkt/mp/b1 r4 "${E[@]}" --identity k; expect_rc 0 "pull the resumed push"
run backup verify r4; expect_rc 0 "r4 verifies"

# ---- prune ----
run backup prune s3://bkt/enc --keep 1 "${E[@]}"; expect_rc 1 "prune without the identity"
expect_err "(remote-encrypted)" "kind"
run backup list s3://bkt/enc "${E[@]}" --json
grep -q '"name": "b1"' "$TMP/out" && ok || bad "a refused prune deleted b1"
before=$(objects enc/blobs | wc -l)
run backup prune s3://bkt/enc --keep 1 "${E[@]}" --identity k --json; expect_rc 0 "prune with the identity"
expect_out '"b1"' "b1 deleted"
after=$(objects enc/blobs | wc -l)
((after < before)) && ok || bad "no blob deleted ($before, $after)"
run backup verify s3://bkt/enc/b2 "${E[@]}" --identity k; expect_rc 0 "b2 verifies after the prune"

# The secret key never appeared in any output.
if grep -rq "$secret" "$TMP"/out "$TMP"/err "$TMP"/bg.* "$S3_LOG" 2>/dev/null; then bad "the secret key was printed"; else ok; fi

s3_stop
finish
