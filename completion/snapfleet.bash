# bash completion for snapfleet(1).
#
# Commands and options come from the program itself: `snapfleet --help`
# lists the commands, `snapfleet NOUN [VERB] --help` a command's usage and
# options, so completion never falls behind the program. Each help text is
# read once per shell. An option's argument is completed from its
# placeholder in the help: FILE and PATH complete files, DIR directories,
# and lower-case choices (--driver sim|icp, --schedule fleet|per-canister)
# complete as words. Operands complete as files.
#
# Installed as share/bash-completion/completions/snapfleet; to try it from
# a source tree: source completion/snapfleet.bash

declare -gA _snapfleet_help_cache=()

# _snapfleet_help PROG [WORDS...]: prints `PROG WORDS... --help`, cached.
_snapfleet_help() {
    local key="$*"
    if [[ -z ${_snapfleet_help_cache[$key]+x} ]]; then
        _snapfleet_help_cache[$key]=$("$@" --help 2>/dev/null)
    fi
    printf '%s\n' "${_snapfleet_help_cache[$key]}"
}

# _snapfleet_commands PROG: one command name ("backup verify") a line.
_snapfleet_commands() {
    _snapfleet_help "$1" | awk '
        /^Commands:/ { inside = 1; next }
        inside && !/^  / { exit }
        inside { line = substr($0, 3); sub(/  .*/, "", line); print line }'
}

# _snapfleet_syntax HELP: the usage lines and the option lines of a help
# text (prose that mentions another command's option is left out).
_snapfleet_syntax() {
    printf '%s\n' "$1" | awk '
        /^usage:/ { usage = 1 }
        usage && /^$/ { usage = 0 }
        usage || /^[ \t]+--[a-z]/ { print }'
}

# _snapfleet_options HELP: the options a command takes, one a line.
_snapfleet_options() {
    _snapfleet_syntax "$1" | grep -oE -- '--[a-z][a-z0-9]*(-[a-z0-9]+)*' | sort -u
}

# _snapfleet_argument HELP OPTION: the placeholders or choices OPTION takes
# ("FILE", "sim", "fleet|per-canister"), one a line; nothing for a flag.
_snapfleet_argument() {
    _snapfleet_syntax "$1" |
        grep -oE -- "(^|[[ ,(])$2 [A-Za-z][A-Za-z0-9|._-]*([]),[:space:]]|\$)" |
        sed -E "s/^.*$2 //; s/[]),[:space:]]*\$//" | tr '|' '\n' | sort -u
}

_snapfleet() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local prev=""
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    local prog=${COMP_WORDS[0]}
    local commands noun="" verb="" cmd="" i word at=0
    COMPREPLY=()
    commands=$(_snapfleet_commands "$prog")

    # The command: the first word that is a noun, then a verb of that noun
    # if one follows.
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [[ -z $noun ]]; then
            [[ $word == -* ]] && continue
            noun=$word
            at=$i
        elif [[ -z $verb ]] && grep -qxF -- "$noun $word" <<<"$commands"; then
            verb=$word
            break
        else
            break
        fi
    done

    if [[ -z $noun ]]; then
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "--help --version" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$(awk '{ print $1 }' <<<"$commands" | sort -u)" -- "$cur")
        fi
        return 0
    fi
    if [[ -n $verb ]]; then
        cmd="$noun $verb"
    elif grep -qxF -- "$noun" <<<"$commands"; then
        cmd=$noun
    fi

    # Right after the noun: its verbs (and the noun's own options when it
    # is a command by itself, as backup and checksum are).
    if [[ -z $verb && $COMP_CWORD -eq $((at + 1)) && $cur != -* ]]; then
        local verbs
        verbs=$(awk -v n="$noun" '$1 == n && NF > 1 { print $2 }' <<<"$commands")
        if [[ -n $verbs ]]; then
            mapfile -t COMPREPLY < <(compgen -W "$verbs" -- "$cur")
            [[ -z $cmd ]] && return 0
            ((${#COMPREPLY[@]})) && return 0
        fi
    fi
    [[ -z $cmd ]] && return 0

    local help
    # shellcheck disable=SC2086  # cmd is one or two words
    help=$(_snapfleet_help "$prog" $cmd)

    if [[ $prev == --* ]] && grep -qxF -- "$prev" < <(_snapfleet_options "$help"); then
        local args
        args=$(_snapfleet_argument "$help" "$prev")
        if [[ -n $args ]]; then
            if grep -q 'FILE\|PATH' <<<"$args"; then
                compopt -o filenames 2>/dev/null
                mapfile -t COMPREPLY < <(compgen -f -- "$cur")
            elif grep -q 'DIR' <<<"$args"; then
                compopt -o filenames 2>/dev/null
                mapfile -t COMPREPLY < <(compgen -d -- "$cur")
            else
                local choices
                choices=$(grep -vE '[A-Z]' <<<"$args")
                [[ -n $choices ]] && mapfile -t COMPREPLY < <(compgen -W "$choices" -- "$cur")
            fi
            return 0
        fi
    fi
    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_snapfleet_options "$help")" -- "$cur")
        return 0
    fi
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
    return 0
}

complete -F _snapfleet snapfleet
