#!/usr/bin/env bash
# manifest validate, journal validate/report, topology hash, checksum, and
# the conventions every command follows (--help, --version, exit 2).
source "$(dirname "$0")/lib.bash" "$1"

# ---- conventions ----
run --version; expect_rc 0 "--version"; expect_out "snapfleet " "--version"
run --help; expect_rc 0 "--help"; expect_out "manifest validate" "--help lists commands"
run; expect_rc 2 "no command"
run frobnicate; expect_rc 2 "unknown command"
run manifest; expect_rc 2 "noun without verb"
run manifest help; expect_rc 0 "noun help"
for cmd in "manifest validate" "journal validate" "journal report" "topology hash" "checksum"; do
  run $cmd --help; expect_rc 0 "$cmd --help"; expect_out "usage: snapfleet $cmd" "$cmd --help"
  run $cmd --version; expect_rc 0 "$cmd --version"
  run $cmd --no-such-option x; expect_rc 2 "$cmd bad option"
done
run manifest validate; expect_rc 2 "manifest validate without FILE"
run manifest validate a b; expect_rc 2 "manifest validate with two FILEs"

# ---- manifest validate ----
for f in "$DATA"/manifests/valid-*.json; do
  run manifest validate "$f"; expect_rc 0 "valid manifest $f"
  run manifest validate --json "$f"; expect_rc 0 "valid manifest --json $f"
  expect_out '"valid": true' "valid --json"
done
run manifest validate --summary "$DATA/manifests/valid-subtree.json"
expect_rc 0 "--summary"; expect_out '"topology_validation_status": "validated"' "--summary"
for f in "$DATA"/manifests/broken-*.json; do
  kind=$(basename "$f" .json); kind=${kind#broken-}; kind=${kind%%--*}
  run manifest validate "$f"; expect_rc 1 "broken manifest $f"
  expect_err "($kind)" "stderr names the rule for $f"
  expect_err "$(basename "$f")" "stderr names the file for $f"
  run manifest validate --json "$f"; expect_rc 1 "broken manifest --json $f"
  expect_out "\"kind\": \"$kind\"" "--json kind for $f"
  expect_out '"valid": false' "--json valid false for $f"
done
run manifest validate "$DATA/manifests/broken-invalid-principal.json"
expect_err "fleet.members[" "invalid principal names the member path"
run manifest validate "$TMP/missing.json"; expect_rc 1 "missing file"; expect_err "missing.json" "missing file named"

# ---- journal validate / report ----
for f in "$DATA"/journals/valid-*.json; do
  run journal validate "$f"; expect_rc 0 "valid journal $f"
  run journal report "$f"; expect_rc 0 "report $f"
  run journal report --json "$f"; expect_rc 0 "report --json $f"; expect_out '"is_complete"' "report json"
done
for f in "$DATA"/journals/broken-*.json; do
  kind=$(basename "$f" .json); kind=${kind#broken-}; kind=${kind%%--*}
  run journal validate --json "$f"; expect_rc 1 "broken journal $f"
  expect_out "\"kind\": \"$kind\"" "journal --json kind for $f"
  run journal report "$f"; expect_rc 1 "report of broken journal $f"
done

# ---- topology hash: the spec's vectors ----
cat >"$TMP/registry.json" <<'JSON'
{"Ok": [
  {"pid": "aaaaa-aa", "role": "root", "record": {"pid": "aaaaa-aa", "role": "root", "parent_pid": null, "module_hash": null, "created_at": "1"}},
  {"pid": "renrk-eyaaa-aaaaa-aaada-cai", "role": "app", "record": {"pid": "renrk-eyaaa-aaaaa-aaada-cai", "role": "app", "parent_pid": ["aaaaa-aa"], "module_hash": null, "created_at": "2"}},
  {"pid": "rno2w-sqaaa-aaaaa-aaacq-cai", "role": "worker", "record": {"pid": "rno2w-sqaaa-aaaaa-aaacq-cai", "role": "worker", "parent_pid": "renrk-eyaaa-aaaaa-aaada-cai", "module_hash": null, "created_at": "3"}}
]}
JSON
run topology hash --registry "$TMP/registry.json" --canister aaaaa-aa --recursive
expect_rc 0 "topology hash"
expect_out_exact 25e8f03a5fd9145c3952e3bd1f3751768fa802d884f4bc6f80b62f4ebf0ef769 "three-canister vector"
run topology hash --registry "$TMP/registry.json" --canister aaaaa-aa
expect_out_exact efdc3797c0b70f93aa4f54b971706884fad12ce9aa88409cea5c8f66115240f4 "single root vector"
run topology hash --registry "$TMP/registry.json" --canister aaaaa-aa --include-children --json
expect_rc 0 "topology --json"; expect_out '"rows": [' "rows"; expect_out '"algorithm": "sha256"' "algorithm"
expect_out 'pid=renrk-eyaaa-aaaaa-aaada-cai|parent_pid=aaaaa-aa|role=app|module_hash=null' "row text"
run topology hash --registry "$TMP/registry.json" --canister 2vxsx-fae --recursive
expect_rc 1 "unknown canister"; expect_err "canister-not-in-registry" "unknown canister kind"
run topology hash --canister aaaaa-aa; expect_rc 2 "missing --registry"
echo '[{"pid": 5}]' >"$TMP/bad-registry.json"
run topology hash --registry "$TMP/bad-registry.json" --canister aaaaa-aa --recursive
expect_rc 1 "bad registry"; expect_err "bad-registry.json" "bad registry named"

# ---- checksum: the spec's vectors ----
mkdir -p "$TMP/d1/nested" "$TMP/d2" "$TMP/d3/a"
printf a >"$TMP/d1/a.txt"; printf b >"$TMP/d1/nested/b.txt"
printf 'app snapshot' >"$TMP/d2/snapshot.bin"
printf 1 >"$TMP/d3/a/b"; printf 2 >"$TMP/d3/a-b"
run checksum "$TMP/d1" "$TMP/d2" "$TMP/d2/snapshot.bin" "$TMP/d3"
expect_rc 0 "checksum"
expect_out "e4d330f138b8f1b3044e84b5dcbe4fd1cb7e043d0c20810c083d791b6de01266  $TMP/d1" "dir vector"
expect_out "e25f06e07b6815cc3e23d409f84b71affebc05dbfb5f81f55634c6bea5976c87  $TMP/d2" "snapshot dir vector"
expect_out "e2cac2614be96c3c77c67a808947928422533f173d2806ef749c42265c8ca08a  $TMP/d2/snapshot.bin" "file vector"
expect_out "6bae2064707687651ae1597772bb7e8988c8e81f773c4f225125b0d8bca507da  $TMP/d3" "component order vector"
ln -s "$TMP/d2/snapshot.bin" "$TMP/d1/link"
run checksum "$TMP/d1" "$TMP/d2"; expect_rc 1 "symlink inside artifact"
expect_err "symlink" "symlink refused"; expect_out "  $TMP/d2" "other paths still printed"
run checksum "$TMP/nope"; expect_rc 1 "missing path"
run checksum; expect_rc 2 "no path"

# ---- usage synopses name every option of the command's own option list
# (the lines before "Progress:"; progress and driver options are
# "[driver options]") ----
for cmd in "backup" "snapshot download"; do
  run $cmd --help; expect_rc 0 "$cmd --help"
  synopsis=$(out | sed '/^$/q')
  for opt in $(out | sed '/^Progress:/q' | sed -n 's/^  \(--[a-z-]*\).*/\1/p' | sort -u); do
    grep -qE -- "[[ ]$opt([] ]|\$)" <<<"$synopsis" && ok \
      || bad "$cmd --help: $opt is described but not in the usage synopsis"
  done
done

finish
