#!/usr/bin/env bash
# TLS to object storage: verification is always on. Against a local HTTPS
# front (node https, a self-signed certificate for 127.0.0.1 made here by
# openssl), a push is refused without the certificate authority, accepted
# with it given the standard way (AWS_CA_BUNDLE, as the AWS CLI and SDKs
# read it), and refused with another CA or with a host name the
# certificate does not name.
source "$(dirname "$0")/lib.bash" "$1"
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v openssl >/dev/null 2>&1; then
  if [[ ${SF_REQUIRE_S3:-} == 1 ]]; then echo "FAIL: openssl is not installed" >&2; exit 1; fi
  echo "SKIP: openssl is not installed"; exit 77
fi
cd "$TMP" || exit 1
mkcert() { # NAME SAN
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" -days 2 \
    -subj "/CN=snapfleet test $1" -addext "subjectAltName=$2" \
    -addext "basicConstraints=critical,CA:TRUE" >/dev/null 2>&1
}
mkcert server IP:127.0.0.1 && ok || bad "openssl made no certificate"
mkcert other IP:127.0.0.1 && ok || bad "openssl made no second certificate"
S3_TLS="$TMP/server.pem $TMP/server.key"
source "$here/s3_lib.bash"
s3_start bkt
[[ $S3_ENDPOINT == https://127.0.0.1:* ]] && ok || bad "not an https endpoint: $S3_ENDPOINT"

s3_env
run sim init --state fleet.json --seed 5 --canisters 2; expect_rc 0 "sim init"
run backup --sim-state fleet.json --out b1 --include-root; expect_rc 0 "backup b1"

# Without the CA: refused at once (not retried), nothing sent.
: >"$S3_LOG"
run push b1 s3://bkt/t "${E[@]}"; expect_rc 1 "self-signed, no CA given"
expect_err "(s3-tls)" "kind"; expect_err "AWS_CA_BUNDLE" "says how to trust a private CA"
[[ ! -s $S3_LOG ]] && ok || bad "a request got through: $(cat "$S3_LOG")"
if grep -q "after [0-9]* tries" "$TMP/err"; then bad "a TLS failure was retried"; else ok; fi
# Another CA: refused.
AWS_CA_BUNDLE=$TMP/other.pem run push b1 s3://bkt/t "${E[@]}"; expect_rc 1 "another CA"
expect_err "(s3-tls)" "kind"
# A CA file that cannot be read: refused before any request.
AWS_CA_BUNDLE=$TMP/none.pem run push b1 s3://bkt/t "${E[@]}"; expect_rc 1 "a missing CA file"
expect_err "(s3-config)" "kind"; expect_err "AWS_CA_BUNDLE names" "names the variable"
# With the CA: the whole cycle.
export AWS_CA_BUNDLE=$TMP/server.pem
run push b1 s3://bkt/t "${E[@]}"; expect_rc 0 "push over https with the CA"
run backup list s3://bkt/t "${E[@]}"; expect_rc 0 "list over https"; expect_out "b1" "lists b1"
run pull s3://bkt/t/b1 r1 "${E[@]}"; expect_rc 0 "pull over https"
run backup verify r1; expect_rc 0 "r1 verifies"
# The host name is checked too: the certificate names 127.0.0.1, not localhost.
run backup list s3://bkt/t --endpoint "https://localhost:$S3_PORT"; expect_rc 1 "a host name the certificate does not name"
expect_err "(s3-tls)" "kind"
# Plain http to a TLS port is not silently upgraded or downgraded.
run backup list s3://bkt/t --endpoint "http://127.0.0.1:$S3_PORT"; expect_rc 1 "http to the https port"

s3_stop
finish
