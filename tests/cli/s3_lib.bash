# The local S3 server for the command-line tests (sourced after lib.bash):
# ci/s3/server.js, s3rver behind a front that checks SigV4, on 127.0.0.1.
#   s3_start BUCKET...   starts it; sets S3_ENDPOINT, S3_PORT, S3_DATA (its
#                        files: <bucket>/<key>._S3rver_object), S3_FAULTS
#                        ("N STATUS" answers the next N requests so;
#                        $S3_FAULTS.delay slows every request by that many
#                        ms; "N STATUS TEXT" takes only URLs holding
#                        TEXT), S3_LOG (one line per request: METHOD URL
#                        STATUS INFLIGHT, the requests the server held
#                        when it arrived). Without node the test is skipped (exit
#                        77), unless SF_REQUIRE_S3=1, when it fails.
#                        With S3_TLS="CERT KEY" set first, the front speaks
#                        HTTPS with that certificate (S3_ENDPOINT https://).
#   s3_env               the test's credentials (the server's), a HOME of
#                        its own (push journals under it), no other AWS_*
#                        setting; E=(--endpoint URL); cd to $TMP.
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
S3_PID=""

s3_stop() {
  if [[ -n $S3_PID ]]; then
    kill "$S3_PID" 2>/dev/null
    wait "$S3_PID" 2>/dev/null
    S3_PID=""
  fi
}

s3_start() {
  local args=() b i
  if ! command -v node >/dev/null 2>&1; then
    if [[ ${SF_REQUIRE_S3:-} == 1 ]]; then
      echo "FAIL: node is not installed, and SF_REQUIRE_S3=1" >&2
      exit 1
    fi
    echo "SKIP: node is not installed; the S3 tests need it (bash ci/s3/install.sh)"
    exit 77
  fi
  if [[ ! -d $SRC/ci/s3/node_modules/s3rver ]]; then
    echo "FAIL: $SRC/ci/s3/node_modules is missing: run bash ci/s3/install.sh" >&2
    exit 1
  fi
  S3_DATA=$TMP/s3data
  S3_FAULTS=$TMP/s3faults
  S3_LOG=$TMP/s3log
  mkdir -p "$S3_DATA"
  : >"$S3_LOG"
  for b in "$@"; do args+=(--bucket "$b"); done
  # shellcheck disable=SC2206  # two paths, no spaces (the test's own files)
  if [[ -n ${S3_TLS:-} ]]; then args+=(--tls $S3_TLS); fi
  SF_S3_FAULTS=$S3_FAULTS SF_S3_LOG=$S3_LOG node --openssl-legacy-provider \
    "$SRC/ci/s3/server.js" "$S3_DATA" "${args[@]}" >"$TMP/s3port" 2>"$TMP/s3err" &
  S3_PID=$!
  trap 's3_stop; rm -rf "$TMP"' EXIT
  for i in $(seq 300); do
    grep -q '^port ' "$TMP/s3port" 2>/dev/null && break
    sleep 0.1
  done
  S3_PORT=$(awk '/^port /{print $2}' "$TMP/s3port")
  if [[ -z $S3_PORT ]]; then
    echo "FAIL: the local S3 server did not start: $(cat "$TMP/s3err")" >&2
    exit 1
  fi
  S3_ENDPOINT=http://127.0.0.1:$S3_PORT
  if [[ -n ${S3_TLS:-} ]]; then S3_ENDPOINT=https://127.0.0.1:$S3_PORT; fi
}

s3_env() {
  export HOME=$TMP/home AWS_ACCESS_KEY_ID=snapfleet-test AWS_SECRET_ACCESS_KEY=snapfleet-test-secret
  unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL AWS_REGION AWS_CA_BUNDLE
  mkdir -p "$HOME"
  E=(--endpoint "$S3_ENDPOINT")
  cd "$TMP" || exit 1
}
