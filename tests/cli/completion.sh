#!/usr/bin/env bash
# completion/snapfleet.bash: commands, verbs, every command's options (as
# its --help gives them), option arguments (choices, files, directories)
# and operands.
source "$(dirname "$0")/lib.bash" "$1"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=/dev/null
source "$SRC/completion/snapfleet.bash"

# comp WORD...: completes the last WORD of `snapfleet WORD...`; the
# candidates, sorted, one a line, go to $TMP/out.
comp() {
  COMP_WORDS=("$SF" "$@")
  COMP_CWORD=$#
  COMPREPLY=()
  _snapfleet
  if ((${#COMPREPLY[@]})); then printf '%s\n' "${COMPREPLY[@]}" | sort >"$TMP/out"; else : >"$TMP/out"; fi
  : >"$TMP/err"
}
# expect_words "A B C" DESCRIPTION: the candidates are exactly A B C.
expect_words() {
  local want
  want=$(tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort)
  if [[ "$(cat "$TMP/out")" == "$want" ]]; then ok; else bad "$2: got '$(tr '\n' ' ' <"$TMP/out")', wanted '$1'"; fi
}

complete -p snapfleet >/dev/null 2>&1; rc=$?; expect_rc 0 "complete registers _snapfleet"

comp ""; expect_words "backup checksum journal keygen manifest pull push restore sim snapshot topology" "nouns"
comp ba; expect_words "backup" "a noun's prefix"
comp -; expect_words "--help --version" "top-level options"
comp backup ""; expect_words "verify status list inspect prune" "backup's verbs"
comp restore ""; expect_words "plan run status" "restore's verbs"
comp sim r; expect_words "registry run" "sim verbs by prefix"
comp journal ""; expect_words "validate report" "journal's verbs"

# Every command offers exactly the options in its usage and option lines.
while IFS= read -r cmd; do
  help=$("$SF" $cmd --help)
  want=$(printf '%s\n' "$help" | awk '/^usage:/{u=1} u&&/^$/{u=0} u||/^[ \t]+--[a-z]/' |
         grep -oE -- '--[a-z][a-z0-9]*(-[a-z0-9]+)*' | sort -u | tr '\n' ' ')
  [[ -n $want || $cmd == checksum ]] || bad "$cmd --help names no options"
  # shellcheck disable=SC2086
  comp $cmd --; expect_words "$want" "$cmd options"
done < <("$SF" --help | awk '/^Commands:/{i=1;next} i&&!/^  /{exit} i{l=substr($0,3); sub(/  .*/,"",l); print l}')

comp backup --ou; expect_words "--out" "option by prefix"
comp backup verify --js; expect_words "--json" "a verb's option"
comp backup verify --j; expect_words "--jobs --json" "a verb's options by prefix"
comp push --j; expect_words "--jobs --json" "push --jobs"
comp pull --jo; expect_words "--jobs" "pull --jobs"
comp push --jobs ""; expect_words "" "--jobs N: nothing to offer"
comp sim run --; if grep -qx -- --faults "$TMP/out"; then bad "sim run offers --faults (named only in its prose)"; else ok; fi
comp sim init --heap; expect_words "--heap-max --heap-min" "min/max options"
comp restore run --backup b --; if grep -qx -- --execute "$TMP/out"; then ok; else bad "options after an option's argument"; fi

# Arguments.
comp backup --driver ""; expect_words "icp sim" "--driver choices"
comp backup --schedule p; expect_words "per-canister" "--schedule choices"
mkdir -p "$TMP/w/dir1" "$TMP/w/dir2"; : >"$TMP/w/file1"
comp backup --out "$TMP/w/"; expect_words "$TMP/w/dir1 $TMP/w/dir2" "--out DIR: directories only"
comp backup --sim-state "$TMP/w/"; expect_words "$TMP/w/dir1 $TMP/w/dir2 $TMP/w/file1" "--sim-state FILE: files"
comp restore run --backup "$TMP/w/d"; expect_words "$TMP/w/dir1 $TMP/w/dir2" "--backup DIR"
comp sim run --seeds ""; expect_words "" "--seeds A..B: nothing to offer"
comp backup prune --keep ""; expect_words "" "--keep N: nothing to offer"
comp manifest validate "$TMP/w/f"; expect_words "$TMP/w/file1" "operand: files"
comp checksum "$TMP/w/"; expect_words "$TMP/w/dir1 $TMP/w/dir2 $TMP/w/file1" "checksum operands"
comp frobnicate ""; expect_words "" "unknown noun: nothing"

finish
