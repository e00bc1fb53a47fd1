#!/usr/bin/env bash
# snapfleet keygen: a key pair for encrypted copies. The identity is
# private (0600), the recipient readable; neither is ever overwritten; the
# secret key is never printed; the files load as what they are.
source "$(dirname "$0")/lib.bash" "$1"
cd "$TMP" || exit 1

run keygen k; expect_rc 0 "keygen"
expect_out "wrote k (identity" "says what it wrote"
[[ -f k && -f k.pub ]] && ok || bad "both files written"
[[ $(stat -c %a k) == 600 ]] && ok || bad "identity mode $(stat -c %a k)"
[[ $(stat -c %a k.pub) == 644 ]] && ok || bad "recipient mode $(stat -c %a k.pub)"
[[ $(head -1 k) == snapfleet-identity-v1 && $(head -1 k.pub) == snapfleet-recipient-v1 ]] && ok || bad "file kinds"
grep -q '^secret-key: [0-9a-f]\{64\}$' k && ok || bad "identity holds the secret key"
if grep -q secret k.pub; then bad "the recipient holds a secret"; else ok; fi
secret=$(sed -n 's/^secret-key: //p' k)
if grep -q "$secret" "$TMP/out" "$TMP/err"; then bad "the secret key was printed"; else ok; fi
id=$(sed -n 's/.*key id \([0-9a-f]*\).*/\1/p' "$TMP/out")
[[ ${#id} == 32 ]] && ok || bad "key id '$id'"
ls ./*tmp* >/dev/null 2>&1 && bad "a temporary file was left" || ok

# Never overwritten: the same bytes after a refused keygen.
cp k k.before; cp k.pub k.pub.before
run keygen k; expect_rc 1 "keygen over an identity"
expect_err "(keygen-exists)" "kind"
cmp -s k k.before && cmp -s k.pub k.pub.before && ok || bad "a key file changed"
rm k
run keygen k; expect_rc 1 "keygen over a lone .pub"
expect_err "k.pub exists" "names the file"
[[ ! -e k ]] && ok || bad "an identity was written beside another's .pub"
run keygen k2 --json; expect_rc 0 "keygen --json"
expect_out '"recipient": "k2.pub"' "json names the recipient"
expect_out '"key_id": "' "json key id"
run keygen nodir/k; expect_rc 1 "a missing directory"
run keygen; expect_rc 2 "no operand"
run keygen a b; expect_rc 2 "two operands"
run keygen k3 --bogus; expect_rc 2 "unknown option"
run keygen --help; expect_rc 0 "--help"
expect_out "usage: snapfleet keygen KEYFILE" "usage"
[[ ! -e k3 ]] && ok || bad "k3 written by a usage error"

finish
