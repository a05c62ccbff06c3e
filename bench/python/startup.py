"""Start-up time: `sigil --help` vs `python -c "import dspy"`, run alternately.

    startup.py RUNS SIGIL_BINARY DSPY_PYTHON

Prints one JSON line with the median wall time of each in milliseconds.
"""
import json
import statistics
import subprocess
import sys
import time


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - start) * 1000


def main():
    runs, sigil, python = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    cmds = {"sigil": [sigil, "--help"], "dspy": [python, "-c", "import dspy"]}
    for cmd in cmds.values():  # warm the page cache once
        timed(cmd)
    times = {k: [] for k in cmds}
    for _ in range(runs):
        for k, cmd in cmds.items():
            times[k].append(timed(cmd))
    print(json.dumps({"runs": runs, "sigil_ms": statistics.median(times["sigil"]),
                      "dspy_ms": statistics.median(times["dspy"])}))


if __name__ == "__main__":
    main()
