#!/usr/bin/env bash
# ci/check-exports.sh: passes on a library exporting only declared sf_
# names with a major-version SONAME, and fails, naming the library and the
# symbol, on each way a library can break that; in a shared build
# ($SF_SHARED_LIB_DIR, set by CMake) it also checks the real libraries.
source "$(dirname "$0")/lib.bash" "$1"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CC=${CC:-cc}

check() {
  bash "$SRC/ci/check-exports.sh" "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
}
# lib NAME SONAME CODE: builds $TMP/libNAME.so.0.1.0 from CODE (hidden by default).
lib() {
  printf '%s\n' "$3" >"$TMP/$1.c"
  local soname=()
  [[ -n $2 ]] && soname=(-Wl,-soname,"$2")
  "$CC" -shared -fPIC -fvisibility=hidden -o "$TMP/lib$1.so.0.1.0" "${soname[@]}" "$TMP/$1.c"
}
V='__attribute__((visibility("default")))'

lib good libgood.so.0 "$V int sf_str_is_blank(void) { return 0; } static int helper(void) { return 1; } int hidden_helper(void) { return helper(); }"
check "$TMP/libgood.so.0.1.0"; expect_rc 0 "declared sf_ names only"; expect_out "1 sf_ symbols, nothing else" "summary"

lib leak libleak.so.0 "$V int sf_str_is_blank(void) { return 0; } $V int helper_leak(void) { return 1; }"
check "$TMP/libleak.so.0.1.0"; expect_rc 1 "a non-sf_ export"
expect_err "libleak.so.0.1.0 exports helper_leak, which is not an sf_ name" "names the symbol"

lib undeclared libundeclared.so.0 "$V int sf_secret_internal(void) { return 0; }"
check "$TMP/libundeclared.so.0.1.0"; expect_rc 1 "an sf_ export no header declares"
expect_err "exports sf_secret_internal, which no public header declares" "names the symbol"

lib data libdata.so.0 "$V int sf_str_is_blank(void) { return 0; } $V int leaked_counter = 3;"
check "$TMP/libdata.so.0.1.0"; expect_rc 1 "exported data"; expect_err "leaked_counter" "names the variable"

lib nosoname "" "$V int sf_str_is_blank(void) { return 0; }"
check "$TMP/libnosoname.so.0.1.0"; expect_rc 1 "no SONAME"; expect_err "has no SONAME" "says so"

lib badsoname libbadsoname.so "$V int sf_str_is_blank(void) { return 0; }"
check "$TMP/libbadsoname.so.0.1.0"; expect_rc 1 "SONAME without the major version"
expect_err "SONAME libbadsoname.so, wanted libbadsoname.so.0" "names both"

lib needy libneedy.so.0 "int sf_buf_init(void); $V int sf_str_is_blank(void) { return sf_buf_init(); }"
check "$TMP/libneedy.so.0.1.0"; expect_rc 1 "an sf_ symbol no snapfleet library provides"
expect_err "needs sf_buf_init" "names the symbol"

check "$TMP"; expect_rc 1 "a build directory without the shared libraries"
expect_err "BUILD_SHARED_LIBS=ON" "says how to build them"
check; expect_rc 2 "no arguments"

if [[ -n ${SF_SHARED_LIB_DIR:-} ]]; then
  check "$SF_SHARED_LIB_DIR"; expect_rc 0 "the real libraries"
  expect_out "libsnapfleet.so.0.1.0 (libsnapfleet.so.0)" "libsnapfleet"
  expect_out "libsnapfleet-sim.so.0.1.0 (libsnapfleet-sim.so.0)" "libsnapfleet-sim"
  expect_out "libsnapfleet-icp.so.0.1.0 (libsnapfleet-icp.so.0)" "libsnapfleet-icp"
  expect_out "libsnapfleet-remote.so.0.1.0 (libsnapfleet-remote.so.0)" "libsnapfleet-remote"
fi

finish
