"""Collects the fine-tune benchmark's figures from what bench/run's finetune part wrote.

    finetune_figures.py DIR

DIR holds config.json, prompt.compile.json / finetune.compile.json (`sigil compile
--json`) and their logs (with /usr/bin/time -v's peak RSS), zero_shot / prompt /
finetune .eval.json (`sigil eval --json` on the test set, per-example scores),
run/.sigil/traces.db (the fine-tune's spans: training wall time), and the throughput
logs of the Sigil speed probe and the PEFT peer.
Prints one JSON object.
"""
import json
import os
import random
import re
import sqlite3
import sys


def last_json(path):
    try:
        with open(path) as f:
            rows = [json.loads(l) for l in f if l.strip().startswith("{")]
    except (OSError, ValueError):
        return None
    return rows[-1] if rows else None


def whole_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def peak_rss_mib(path):
    try:
        with open(path) as f:
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", f.read())
    except OSError:
        return None
    return int(m.group(1)) / 1024 if m else None


def training_seconds(db):
    if not os.path.exists(db):
        return None
    con = sqlite3.connect(db)
    row = con.execute(
        "SELECT (end_ns - start_ns) / 1e9 FROM spans WHERE kind = 'finetune' ORDER BY start_ns DESC LIMIT 1"
    ).fetchone()
    return row[0] if row else None


def main(d):
    out = {"config": whole_json(os.path.join(d, "config.json"))}
    for kind in ("prompt", "finetune"):
        r = whole_json(os.path.join(d, f"{kind}.compile.json"))
        out[kind] = r and {
            "wall_time_s": r.get("wall_time_s"),
            "lm_calls": (r.get("spend") or {}).get("lm_calls"),
            "peak_rss_mib": peak_rss_mib(os.path.join(d, f"{kind}.compile.log")),
        }
    if out["finetune"]:
        out["finetune"]["training_s"] = training_seconds(os.path.join(d, "run", ".sigil", "traces.db"))
    # `sigil eval --json` of each program on the test messages (test.jsonl in file order).
    evals = {k: whole_json(os.path.join(d, f"{k}.eval.json")) for k in ("zero_shot", "prompt", "finetune")}
    out["accuracy"] = {k: v and {"mean": v["mean"], "ci95": v["ci95"], "n": v["n"], "errors": v["errors"]}
                       for k, v in evals.items()}
    def diff(a, b):
        try:
            return paired(evals[a]["scores"], evals[b]["scores"])
        except (KeyError, TypeError):
            return None
    out["finetune_minus_zero_shot"] = diff("finetune", "zero_shot")
    out["finetune_minus_prompt"] = diff("finetune", "prompt")
    out["prompt_minus_zero_shot"] = diff("prompt", "zero_shot")
    out["throughput"] = {
        "sigil_shared": last_json(os.path.join(d, "sigil_shared.log")),
        "sigil_whole": last_json(os.path.join(d, "sigil_whole.log")),
        "peft": last_json(os.path.join(d, "peft.log")),
        "sigil_whole_rss_mib": peak_rss_mib(os.path.join(d, "sigil_whole.log")),
        "peft_rss_mib": peak_rss_mib(os.path.join(d, "peft.log")),
    }
    print(json.dumps(out))


def paired(a, b, resamples=2000, seed=0):
    """Mean of a - b with its 95% percentile-bootstrap interval (examples resampled)."""
    if len(a) != len(b) or not a:
        return None
    rng = random.Random(seed)
    d = [x - y for x, y in zip(a, b)]
    means = sorted(sum(d[rng.randrange(len(d))] for _ in d) / len(d) for _ in range(resamples))
    return {"diff": sum(d) / len(d), "ci95": [means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]]}


if __name__ == "__main__":
    main(sys.argv[1])
