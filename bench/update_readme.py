#!/usr/bin/env python3
"""Regenerates README.md's performance section from bench/RESULTS.md.

    bench/update_readme.py [bench/RESULTS.md] [README.md]

Replaces everything between the `<!-- bench:begin -->` and `<!-- bench:end -->` markers
with RESULTS.md's sections (headings demoted one level); the rest of the README is
left as it is. bench/run calls it after writing RESULTS.md.
"""
import re
import sys

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def main(results="bench/RESULTS.md", readme="README.md"):
    with open(results) as f:
        lines = f.read().splitlines()
    body = []
    for line in lines:
        if line.startswith("# "):
            continue  # the page title; the README has its own heading
        body.append("#" + line if re.match(r"^#{2,5} ", line) else line)
    while body and not body[0].strip():
        body.pop(0)
    with open(readme) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit(f"update_readme: {readme} has no {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    block = "\n".join([BEGIN, "<!-- generated from bench/RESULTS.md by bench/update_readme.py; do not edit -->", "", *body, "", END])
    with open(readme, "w") as f:
        f.write(head + block + tail)


if __name__ == "__main__":
    main(*sys.argv[1:3])
