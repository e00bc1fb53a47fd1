#!/usr/bin/env bash
# ci/check-includes.sh: passes on the tree as it is, and fails, naming the
# file, the line and the rule, on each kind of bad include added to a
# scratch copy of the sources (the tree itself is never touched).
source "$(dirname "$0")/lib.bash" "$1"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CHECK=$SRC/ci/check-includes.sh

# fresh: a scratch copy of the folders the rule covers, as in the tree
# (copied once; later calls undo the previous case's change).
fresh() {
  if [[ ! -d $TMP/tree ]]; then
    mkdir -p "$TMP/tree"
    cp -r "$SRC/core" "$SRC/sim" "$SRC/drivers" "$SRC/remote" "$TMP/tree/"
    return
  fi
  if [[ -n ${changed:-} ]]; then cp "$SRC/$changed" "$TMP/tree/$changed"; fi
  rm -f "$TMP/tree/core/include/snapfleet/newthing.h"
  changed=""
}
# change FILE: FILE in the scratch copy is about to be changed.
change() { changed=$1; }
# check: runs the script on the scratch copy.
check() {
  bash "$CHECK" "$TMP/tree" >"$TMP/out" 2>"$TMP/err"
  rc=$?
}
# bad FILE LINE WANT DESCRIPTION: appends LINE to FILE in a fresh copy and
# expects the check to fail with WANT in its message.
bad_include() {
  fresh
  change "$1"
  printf '%s\n' "$2" >>"$TMP/tree/$1"
  check
  expect_rc 1 "$4"
  expect_err "$1:" "$4: names the file"
  expect_err "$3" "$4: says why"
}

fresh
check; expect_rc 0 "the tree follows the rule"; expect_out "follow the rule" "summary line"

# core/base and core/formats include nothing from core/driver or core/engine.
bad_include core/formats/manifest.c '#include "engine/engine.h"' \
  "formats may not include engine" "formats -> internal engine header"
bad_include core/formats/manifest.c '#include "snapfleet/backup.h"' \
  "formats may not include engine" "formats -> public engine header"
bad_include core/base/buf.c '#include "snapfleet/driver.h"' \
  "base may not include driver" "base -> public driver header"
bad_include core/formats/registry.c '#include <snapfleet/wrap.h>' \
  "formats may not include driver" "formats -> <snapfleet/...> form"
bad_include core/include/snapfleet/manifest.h '#include "snapfleet/faults.h"' \
  "formats may not include driver" "public formats header -> driver header"
# nothing in core/ includes from sim/ or drivers/.
bad_include core/engine/engine.c '#include "snapfleet/sim.h"' \
  "engine may not include sim" "engine -> public sim header"
bad_include core/driver/driver.c '#include "../../sim/sim_internal.h"' \
  "driver may not include sim" "driver -> sim internal header by path"
bad_include core/engine/backup_run.c '#include "../../drivers/icp_internal.h"' \
  "engine may not include icp" "engine -> icp internal header by path"
bad_include core/include/snapfleet/backup.h '#include "snapfleet/icp.h"' \
  "engine may not include icp" "public engine header -> icp header"
# sim/ and drivers/ never include each other.
bad_include sim/driver.c '#include "snapfleet/icp.h"' \
  "sim may not include icp" "sim -> public icp header"
bad_include sim/state.c '#include "../drivers/icp_internal.h"' \
  "sim may not include icp" "sim -> icp internal header"
bad_include drivers/icp.c '#include "snapfleet/simrun.h"' \
  "icp may not include sim" "icp -> public sim header"
bad_include drivers/icp_parse.c '#include "../sim/sim_internal.h"' \
  "icp may not include sim" "icp -> sim internal header"
# remote/ uses core/base and core/formats only; nothing but the program
# uses remote/.
bad_include remote/s3.c '#include "snapfleet/backup.h"' \
  "remote may not include engine" "remote -> public engine header"
bad_include remote/s3.c '#include "snapfleet/driver.h"' \
  "remote may not include driver" "remote -> public driver header"
bad_include remote/s3.c '#include "snapfleet/sim.h"' \
  "remote may not include sim" "remote -> public sim header"
bad_include remote/s3_xml.c '#include "../drivers/icp_internal.h"' \
  "remote may not include icp" "remote -> icp internal header"
bad_include core/engine/engine.c '#include "snapfleet/s3.h"' \
  "engine may not include remote" "engine -> public remote header"
bad_include core/formats/manifest.c '#include "../../remote/s3_internal.h"' \
  "formats may not include remote" "formats -> remote internal header"
bad_include sim/driver.c '#include "snapfleet/s3.h"' \
  "sim may not include remote" "sim -> public remote header"
bad_include drivers/icp.c '#include "../remote/s3_internal.h"' \
  "icp may not include remote" "icp -> remote internal header"

# sim/, drivers/ and remote/ are libraries of their own: core through its
# public headers only (core's own symbols are not exported to them).
bad_include sim/fleet.c '#include "base/posmap.h"' \
  "sim may use only core's public headers" "sim -> core internal header"
bad_include drivers/icp.c '#include "engine/engine.h"' \
  "icp may use only core's public headers" "icp -> core internal header"
bad_include remote/s3.c '#include "../core/formats/checksum_internal.h"' \
  "remote may use only core's public headers" "remote -> core internal header by path"

# The line number is the added line's.
fresh
change core/base/text.c
n=$(($(wc -l <"$TMP/tree/core/base/text.c") + 1))
echo '#include "engine/observations.h"' >>"$TMP/tree/core/base/text.c"
check; expect_rc 1 "line number"; expect_err "core/base/text.c:$n:" "names the line"

# A quoted include the check cannot find is refused, not waved through.
bad_include core/formats/plan.c '#include "nowhere/missing.h"' \
  "names no file in the tree" "unresolvable quoted include"
# A new public header must be given a layer.
fresh
printf '#include "snapfleet/error.h"\n' >"$TMP/tree/core/include/snapfleet/newthing.h"
check; expect_rc 1 "unclassified public header"
expect_err "newthing.h: public header has no layer" "names the header"
# Allowed arrows stay allowed.
rm -rf "$TMP/tree"
fresh
printf '%s\n' '#include "snapfleet/backup.h"' >>"$TMP/tree/sim/state.c"
printf '%s\n' '#include "snapfleet/manifest.h"' >>"$TMP/tree/core/engine/engine.c"
printf '%s\n' '#include <stdio.h>' >>"$TMP/tree/core/base/buf.c"
check; expect_rc 0 "allowed arrows (sim -> engine, engine -> formats, system headers)"

finish
