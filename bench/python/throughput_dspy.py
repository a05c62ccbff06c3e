"""DSPy's side of the Evaluate throughput benchmark (peer of bench/src/bin/throughput.rs).

    throughput_dspy.py BASE_URL N C

dspy.Evaluate(num_threads=C) of dspy.Predict("question -> answer") over N examples against
the loopback server, through dspy.LM('openai/loopback', api_base=..., cache=False).
Prints one JSON line; peak RSS is VmHWM from /proc/self/status, read after the run.
"""
import json
import sys
import time

import dspy


def peak_rss_mib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def main():
    url, n, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    lm = dspy.LM("openai/loopback", api_base=url, api_key="none", cache=False, num_retries=0)
    dspy.configure(lm=lm, adapter=dspy.ChatAdapter())
    program = dspy.Predict("question -> answer")
    data = [
        dspy.Example(question=f"What is the capital of France? (#{i})", answer="Paris").with_inputs("question")
        for i in range(n)
    ]
    metric = lambda ex, pred, trace=None: ex.answer == pred.answer
    evaluate = dspy.Evaluate(devset=data, metric=metric, num_threads=c, display_progress=False, max_errors=n + 1)
    start = time.perf_counter()
    result = evaluate(program)
    wall = time.perf_counter() - start
    print(json.dumps({
        "framework": "dspy",
        "examples": n,
        "concurrency": c,
        "wall_s": wall,
        "per_s": n / wall,
        "accuracy": float(result.score) / 100,
        "errors": sum(1 for r in result.results if r[1] is None),
        "peak_rss_mib": peak_rss_mib(),
    }), flush=True)


if __name__ == "__main__":
    main()
