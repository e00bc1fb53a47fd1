#!/usr/bin/env python3
"""The man pages say what --help says.

    ci/check-man.py SNAPFLEET MANDIR

SNAPFLEET is the built program, MANDIR the scdoc sources (docs/man). The
commands are those `snapfleet --help` lists. Each command NOUN [VERB] is
described in MANDIR/snapfleet-NOUN.1.scd under a subsection headed exactly
`## snapfleet NOUN [VERB]`; the subsection runs to the next heading. Then:

  - every long option that `snapfleet NOUN [VERB] --help` prints (usage,
    option list and prose alike) appears in that subsection, and every
    long option the subsection names is one that --help prints;
  - the OPTIONS section of snapfleet.1.scd and `snapfleet --help` name
    the same options;
  - every command has its page and subsection, and every `## snapfleet ...`
    subsection names a command; snapfleet.1.scd names every command page.

"--name-min/-max" in --help counts as --name-min and --name-max. Exit
status: 0 all agree, 1 a difference (each one printed), 2 usage error.
"""
import os
import re
import subprocess
import sys

OPTION = re.compile(r"(?<![A-Za-z0-9-])--[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
MINMAX = re.compile(r"(--[a-z][a-z0-9-]*-)min/-max\b")


def options(text):
    """Every long option named in TEXT."""
    found = set(OPTION.findall(text))
    for stem in MINMAX.findall(text):
        found.add(stem + "max")
    return found


def run_help(program, words):
    proc = subprocess.run([program, *words, "--help"], capture_output=True,
                          text=True, timeout=60)
    if proc.returncode != 0:
        raise SystemExit(f"check-man: {' '.join(['snapfleet', *words, '--help'])} "
                         f"exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def commands(top_help):
    """The command names `snapfleet --help` lists under Commands:."""
    names, inside = [], False
    for line in top_help.splitlines():
        if line.startswith("Commands:"):
            inside = True
            continue
        if inside:
            if not line.startswith("  "):
                break
            name = re.split(r"\s{2,}", line.strip())[0]
            names.append(name)
    return names


def sections(path):
    """{heading text: body text} of an scd file, for both # and ## headings."""
    out, heading, body = {}, None, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^(#{1,2}) (.*?)\s*$", line)
            if m:
                if heading is not None:
                    out[heading] = out.get(heading, "") + "".join(body)
                heading, body = m.group(2), []
            else:
                body.append(line)
    if heading is not None:
        out[heading] = out.get(heading, "") + "".join(body)
    return out


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    program, mandir = argv[1], argv[2]
    problems = []
    top_help = run_help(program, [])
    names = commands(top_help)
    if not names:
        problems.append("snapfleet --help lists no commands")

    top_page = os.path.join(mandir, "snapfleet.1.scd")
    if not os.path.isfile(top_page):
        problems.append(f"{top_page}: missing")
        top = {}
    else:
        top = sections(top_page)
    helped, paged = options(top_help), options(top.get("OPTIONS", ""))
    for opt in sorted(helped - paged):
        problems.append(f"snapfleet --help prints {opt}; {top_page} OPTIONS lacks it")
    for opt in sorted(paged - helped):
        problems.append(f"{top_page} OPTIONS names {opt}; snapfleet --help does not")

    pages = {}
    for name in names:
        noun = name.split()[0]
        page = os.path.join(mandir, f"snapfleet-{noun}.1.scd")
        if page not in pages:
            pages[page] = sections(page) if os.path.isfile(page) else None
            if pages[page] is None:
                problems.append(f"{page}: missing (for snapfleet {name})")
            if top and f"*snapfleet-{noun}*(1)" not in "".join(top.values()):
                problems.append(f"{top_page} does not name snapfleet-{noun}(1)")
        if pages[page] is None:
            continue
        heading = f"snapfleet {name}"
        if heading not in pages[page]:
            problems.append(f"{page}: no subsection '## {heading}'")
            continue
        helped = options(run_help(program, name.split()))
        paged = options(pages[page][heading])
        for opt in sorted(helped - paged):
            problems.append(f"snapfleet {name} --help prints {opt}; "
                            f"{page} '## {heading}' lacks it")
        for opt in sorted(paged - helped):
            problems.append(f"{page} '## {heading}' names {opt}; "
                            f"snapfleet {name} --help does not")

    known = {f"snapfleet {n}" for n in names}
    for entry in sorted(os.listdir(mandir)):
        if not entry.endswith(".scd"):
            continue
        path = os.path.join(mandir, entry)
        for heading in sections(path):
            if heading.startswith("snapfleet") and heading not in known:
                problems.append(f"{path}: '## {heading}' is not a command "
                                "snapfleet --help lists")

    for p in problems:
        print(f"check-man: {p}", file=sys.stderr)
    if problems:
        return 1
    print(f"check-man: {len(names)} commands, their --help and their pages agree")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
