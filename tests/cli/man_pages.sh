#!/usr/bin/env bash
# The man pages (docs/man/*.scd): ci/check-man.py finds them in agreement
# with every command's --help, and fails, naming the page and the option,
# on each kind of disagreement in a scratch copy; the pages scdoc built
# ($SF_MAN_BUILD, set by CMake) render without a groff warning.
source "$(dirname "$0")/lib.bash" "$1"
SRC=$(cd "$(dirname "$0")/../.." && pwd)

check() { # MANDIR
  python3 "$SRC/ci/check-man.py" "$SF" "$1" >"$TMP/out" 2>"$TMP/err"
  rc=$?
}
scratch() {
  rm -rf "$TMP/man"; cp -r "$SRC/docs/man" "$TMP/man"
}

check "$SRC/docs/man"; expect_rc 0 "pages agree with --help"; expect_out "their pages agree" "summary"

# An option --help prints but the page lacks.
scratch
sed -i '/^\*--retries\* _N_$/,+2d' "$TMP/man/snapfleet-backup.1.scd"
check "$TMP/man"; expect_rc 1 "page lacks an option"
expect_err "snapfleet backup --help prints --retries" "names the command and option"
expect_err "snapfleet-backup.1.scd '## snapfleet backup' lacks it" "names the page and subsection"
# An option the page names but --help does not print.
scratch
printf '\n*--frobnicate*\n\tNo such option.\n' >>"$TMP/man/snapfleet-journal.1.scd"
sed -i 's/^## snapfleet journal report$/&\n\n*--no-such-thing*\n\tNot real./' "$TMP/man/snapfleet-journal.1.scd"
check "$TMP/man"; expect_rc 1 "page names an option --help lacks"
expect_err "'## snapfleet journal report' names --no-such-thing" "names the subsection and option"
# An option documented under the wrong command of the same page.
scratch
sed -i 's/^## snapfleet backup status$/&\n\n*--keep* _N_\n\tWrong place./' "$TMP/man/snapfleet-backup.1.scd"
check "$TMP/man"; expect_rc 1 "option under the wrong command"
expect_err "'## snapfleet backup status' names --keep" "names the wrong subsection"
# A command without its subsection, a subsection for no command.
scratch
sed -i 's/^## snapfleet sim mutate$/## snapfleet sim mutilate/' "$TMP/man/snapfleet-sim.1.scd"
check "$TMP/man"; expect_rc 1 "renamed subsection"
expect_err "no subsection '## snapfleet sim mutate'" "names the missing subsection"
expect_err "'## snapfleet sim mutilate' is not a command" "names the stray subsection"
# A missing page.
scratch
rm "$TMP/man/snapfleet-checksum.1.scd"
check "$TMP/man"; expect_rc 1 "missing page"; expect_err "snapfleet-checksum.1.scd: missing" "names the page"
# snapfleet(1): its OPTIONS against `snapfleet --help`, and the page list.
scratch
sed -i '/^\*--version\*, \*-V\*$/,+2d' "$TMP/man/snapfleet.1.scd"
sed -i 's/\*snapfleet-topology\*(1)/topology page/g' "$TMP/man/snapfleet.1.scd"
check "$TMP/man"; expect_rc 1 "snapfleet(1) out of date"
expect_err "snapfleet --help prints --version" "top-level option"
expect_err "does not name snapfleet-topology(1)" "page list"

# The built pages render cleanly.
if [[ -n ${SF_MAN_BUILD:-} ]]; then
  n=0
  for scd in "$SRC"/docs/man/*.scd; do
    page=$SF_MAN_BUILD/$(basename "$scd" .scd)
    if [[ ! -s $page ]]; then bad "built page $page missing"; continue; fi
    n=$((n + 1))
    warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
    if [[ -z $warnings ]]; then ok; else bad "$page: groff: $warnings"; fi
    name=$(basename "$page" .1)
    if MANWIDTH=80 man -l "$page" 2>/dev/null | grep -q "^NAME"; then ok; else bad "man -l $page"; fi
    if MANWIDTH=80 man -l "$page" 2>/dev/null | grep -qF -- "$name"; then ok; else bad "$page names $name"; fi
  done
  ((n >= 9)) && ok || bad "only $n built pages"
fi

finish
