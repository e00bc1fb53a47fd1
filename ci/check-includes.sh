#!/usr/bin/env bash
# The include rule (arrows one way), checked on every quoted #include in
# core/, sim/ and drivers/:
#   - core/base and core/formats include nothing from core/driver or
#     core/engine;
#   - nothing in core/ includes from sim/ or drivers/;
#   - sim/ and drivers/ never include each other;
#   - remote/ (libsnapfleet-remote: S3, push, pull) uses core/base and
#     core/formats only, and nothing but the program uses remote/;
#   - sim/, drivers/ and remote/ are libraries of their own, linked against
#     libsnapfleet's exported symbols only: they include core through its
#     public headers (core/include/snapfleet/), never core's own.
# A public header (core/include/snapfleet/X.h) belongs to the layer whose
# sources implement it (the table below): including snapfleet/backup.h from
# core/formats is as wrong as including engine/engine.h. A public header
# missing from the table is an error, so a new one gets a layer when it is
# added.
#   ci/check-includes.sh [ROOT]     ROOT: the source tree (default: this one)
# Exit status: 0 the rule holds, 1 a violation (each named with file:line).
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root"

# Layer of each public header.
declare -A public=(
  [export.h]=base [buf.h]=base [error.h]=base [fs.h]=base [text.h]=base
  [progress.h]=base
  [storage.h]=base [txlog.h]=base
  [candid.h]=formats [checksum.h]=formats [execjournal.h]=formats
  [journal.h]=formats [json.h]=formats [layout.h]=formats
  [manifest.h]=formats [plan.h]=formats [principal.h]=formats
  [registry.h]=formats [restore_journal.h]=formats [restore_plan.h]=formats
  [snapshot_meta.h]=formats [topology.h]=formats
  [driver.h]=driver [faults.h]=driver [wrap.h]=driver
  [backup.h]=engine [restore.h]=engine [inventory.h]=engine
  [sim.h]=sim [simrun.h]=sim [simdisk.h]=sim
  [icp.h]=icp
  [s3.h]=remote [remote.h]=remote [crypt.h]=remote
)

status=0
fail() { echo "check-includes: $*" >&2; status=1; }

# layer_of PATH: sets $layer to the layer a file in the tree belongs to
# ("" for none). No subshells: this runs for every include.
layer_of() {
  local p=$1
  case $p in
    core/include/snapfleet/*)
      local name=${p#core/include/snapfleet/}
      if [[ -n ${public[$name]+x} ]]; then layer=${public[$name]}; else layer=unclassified; fi ;;
    core/base/*) layer=base ;;
    core/formats/*) layer=formats ;;
    core/driver/*) layer=driver ;;
    core/engine/*) layer=engine ;;
    core/*) layer=core-other ;;
    sim/*) layer=sim ;;
    drivers/*) layer=icp ;;
    remote/*) layer=remote ;;
    *) layer="" ;;
  esac
}

# forbidden FROM TO: succeeds when layer FROM may not include layer TO.
forbidden() {
  case "$1:$2" in
    base:driver | base:engine | formats:driver | formats:engine) return 0 ;;
    base:sim | base:icp | formats:sim | formats:icp) return 0 ;;
    driver:sim | driver:icp | engine:sim | engine:icp) return 0 ;;
    core-other:sim | core-other:icp) return 0 ;;
    sim:icp | icp:sim) return 0 ;;
    base:remote | formats:remote | driver:remote | engine:remote | core-other:remote) return 0 ;;
    sim:remote | icp:remote | remote:sim | remote:icp) return 0 ;;
    remote:driver | remote:engine) return 0 ;;
  esac
  return 1
}

# normalize PATH: sets $norm to PATH with "dir/../" and "./" collapsed,
# without touching the disk.
normalize() {
  norm=$1
  [[ $norm == */./* || $norm == ./* || $norm == *../* ]] || return 0
  local IFS=/ part out=()
  for part in $1; do
    case $part in
      "" | .) ;;
      ..) if ((${#out[@]})); then unset 'out[${#out[@]}-1]'; else out+=(..); fi ;;
      *) out+=("$part") ;;
    esac
  done
  norm="${out[*]}"
}

# Every public header has a layer.
for h in core/include/snapfleet/*.h; do
  [[ -e $h ]] || continue
  name=${h#core/include/snapfleet/}
  if [[ -z ${public[$name]+x} ]]; then
    fail "$h: public header has no layer; add it to the table in ci/check-includes.sh"
  fi
done

checked=0
while IFS= read -r -d '' file; do
  layer_of "$file"; from=$layer
  dir=${file%/*}
  lineno=0
  while IFS= read -r line; do
    lineno=$((lineno + 1))
    [[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*[\"\<]([^\"\>]+)[\"\>] ]] || continue
    inc=${BASH_REMATCH[1]}
    quoted=0; [[ $line =~ include[[:space:]]*\" ]] && quoted=1
    target=""
    # Where the build's include paths would find it: next to the file, the
    # public headers, core/ (for "base/..", "engine/.."), then any top-level
    # folder named in the path itself ("../sim/x.h").
    for cand in "$dir/$inc" "core/include/$inc" "core/$inc" "$inc"; do
      normalize "$cand"
      if [[ -f $norm ]]; then target=$norm; break; fi
    done
    if [[ -z $target ]]; then
      # A system header (<stdio.h>, <cjson/cJSON.h>) is outside the rule; a
      # quoted include that names no file in the tree is an error, so a
      # path the check cannot see is never waved through.
      if ((quoted)); then fail "$file:$lineno: #include \"$inc\" names no file in the tree"; fi
      continue
    fi
    checked=$((checked + 1))
    layer_of "$target"; to=$layer
    if [[ $from == sim || $from == icp || $from == remote ]] &&
       [[ $target == core/* && $target != core/include/* ]]; then
      fail "$file:$lineno: $from may use only core's public headers, not $target (its symbols are not exported)"
    elif [[ $to == unclassified ]]; then
      fail "$file:$lineno: includes $target, a public header with no layer"
    elif [[ -n $to ]] && forbidden "$from" "$to"; then
      fail "$file:$lineno: $from may not include $to ($target)"
    fi
  done <"$file"
done < <(find core sim drivers remote -type f \( -name '*.c' -o -name '*.h' \) -print0 | sort -z)

if ((status == 0)); then
  echo "check-includes: $checked includes follow the rule"
fi
exit $status
