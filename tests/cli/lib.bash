# Shared helpers for the command-line tests: run, capture, assert.
# Usage inside a test script: source "$(dirname "$0")/lib.bash" "$1"
set -u
SF=${1:?path to the snapfleet binary}
DATA=${SF_TEST_DATA:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../data" && pwd)}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

# run CMD...: runs the binary, keeping stdout, stderr and the exit status.
run() {
  "$SF" "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
}
out() { cat "$TMP/out"; }
err() { cat "$TMP/err"; }

ok() { passed=$((passed + 1)); }
bad() {
  failed=$((failed + 1))
  echo "FAIL: $*" >&2
  echo "  stdout: $(head -c 600 "$TMP/out")" >&2
  echo "  stderr: $(head -c 600 "$TMP/err")" >&2
}

expect_rc() { # WANT DESCRIPTION
  if [[ $rc == "$1" ]]; then ok; else bad "$2: exit $rc, wanted $1"; fi
}
expect_out() { # TEXT DESCRIPTION
  if grep -qF -- "$1" "$TMP/out"; then ok; else bad "$2: stdout lacks '$1'"; fi
}
expect_err() { # TEXT DESCRIPTION
  if grep -qF -- "$1" "$TMP/err"; then ok; else bad "$2: stderr lacks '$1'"; fi
}
expect_out_exact() { # TEXT DESCRIPTION
  if [[ "$(cat "$TMP/out")" == "$1" ]]; then ok; else bad "$2: stdout differs"; fi
}

finish() {
  echo "$passed passed, $failed failed"
  [[ $failed == 0 ]]
}
