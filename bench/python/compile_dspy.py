"""DSPy's side of the compile benchmark (peer of bench/src/bin/compile.rs).

    compile_dspy.py --split SPLIT.json --url BASE_URL --optimizer random|mipro
                    --adapter chat|json --budget N --seed S [--candidates K]
                    [--concurrency C] [--max-tokens T] [--max-demos D]

Same split, seed, instructions, demo limits, temperature 0, token limit and LM-call
budget as the Sigil side. The budget is enforced by the LM: past it, a call raises
BudgetExhausted without reaching the server and the optimizer sees a failed example
(max_errors is lifted), which is how Sigil's budget stops a search. If the optimizer
cannot survive that (MIPROv2's instruction proposer does not catch errors), the run is
reported as unfinished and the zero-shot program is what gets tested.
Parse failures are the completions the configured adapter could not parse (its
JSON fallback's own failures are not counted, as on the Sigil side).
Prints one JSON line.
"""
import argparse
import json
import random
import threading
import time
from typing import Literal

import dspy
import dspy.clients.base_lm as base_lm

LOCK = threading.Lock()
STATE = {"calls": 0, "tokens": 0, "budget": None, "parse_failures": 0, "refused": 0}


class BudgetExhausted(Exception):
    pass


class BudgetLM(dspy.LM):
    """dspy.LM that counts calls and refuses them past the budget (shared over copies)."""

    def __call__(self, *args, **kwargs):
        with LOCK:
            if STATE["budget"] is not None and STATE["calls"] >= STATE["budget"]:
                STATE["refused"] += 1
                raise BudgetExhausted(f"LM-call budget of {STATE['budget']} exhausted")
            STATE["calls"] += 1
        return super().__call__(*args, **kwargs)


_record = base_lm.record_history


def record_history(client, entry):
    usage = entry.get("usage") or {}
    with LOCK:
        STATE["tokens"] += int(usage.get("total_tokens") or 0)
    return _record(client, entry)


base_lm.record_history = record_history


def counting(adapter_cls):
    class Counting(adapter_cls):
        def parse(self, signature, completion):
            try:
                return super().parse(signature, completion)
            except Exception:
                with LOCK:
                    STATE["parse_failures"] += 1
                raise

    Counting.__name__ = adapter_cls.__name__
    return Counting()


def bootstrap_ci(scores, resamples=1000, seed=0):
    if not scores:
        return 0.0, 0.0
    rng = random.Random(seed)
    n = len(scores)
    means = sorted(sum(rng.choice(scores) for _ in range(n)) / n for _ in range(resamples))
    return means[int(0.025 * (resamples - 1))], means[int(0.975 * (resamples - 1))]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--split", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--optimizer", choices=["random", "mipro"], required=True)
    p.add_argument("--adapter", choices=["chat", "json"], default="chat")
    p.add_argument("--budget", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--candidates", type=int, default=4)
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--max-demos", type=int, default=2)
    a = p.parse_args()

    split = json.load(open(a.split))
    labels = tuple(split["labels"])

    class Classify(dspy.Signature):
        text: str = dspy.InputField()
        category: Literal[labels] = dspy.OutputField()

    Classify.__doc__ = split["instructions"]
    Classify = Classify.with_instructions(split["instructions"])
    row = lambda r: dspy.Example(text=r["text"], category=r["category"]).with_inputs("text")
    train, val, test = ([row(r) for r in split[k]] for k in ("train", "val", "test"))

    lm = BudgetLM("openai/smollm2", api_base=a.url, api_key="none", cache=False,
                  temperature=0.0, max_tokens=a.max_tokens, num_retries=0,
                  # DSPy sends max_completion_tokens, which llama-cpp-python ignores: send max_tokens too.
                  extra_body={"max_tokens": a.max_tokens})
    adapter = counting(dspy.JSONAdapter if a.adapter == "json" else dspy.ChatAdapter)
    dspy.configure(lm=lm, adapter=adapter, max_errors=10**9)
    metric = lambda ex, pred, trace=None: ex.category == getattr(pred, "category", None)
    program = dspy.Predict(Classify)

    STATE["budget"] = a.budget
    start = time.perf_counter()
    finished, error = True, None
    try:
        if a.optimizer == "random":
            opt = dspy.BootstrapFewShotWithRandomSearch(
                metric=metric, max_bootstrapped_demos=a.max_demos, max_labeled_demos=a.max_demos,
                num_candidate_programs=a.candidates, num_threads=a.concurrency, max_errors=10**9)
            compiled = opt.compile(program, trainset=train, valset=val)
        else:
            opt = dspy.MIPROv2(metric=metric, auto="light", max_bootstrapped_demos=a.max_demos,
                               max_labeled_demos=a.max_demos, num_threads=a.concurrency,
                               max_errors=10**9, seed=a.seed)
            compiled = opt.compile(program, trainset=train, valset=val)
    except Exception as e:  # noqa: BLE001 - reported, and the zero-shot program is tested
        finished, error, compiled = False, f"{type(e).__name__}: {e}"[:300], program
    search_s = time.perf_counter() - start
    search_calls, search_tokens = STATE["calls"], STATE["tokens"]
    search_failures = STATE["parse_failures"]
    val_score = getattr(compiled, "score", None)

    STATE["budget"] = None
    start = time.perf_counter()
    result = dspy.Evaluate(devset=test, metric=metric, num_threads=a.concurrency,
                           display_progress=False, max_errors=10**9)(compiled)
    test_s = time.perf_counter() - start
    scores = [float(bool(r[2])) for r in result.results]
    lo, hi = bootstrap_ci(scores, seed=a.seed)
    print(json.dumps({
        "framework": "dspy",
        "lm": "server",
        "adapter": a.adapter,
        "optimizer": a.optimizer,
        "budget": a.budget,
        "seed": a.seed,
        "train": len(train), "val": len(val), "test": len(test),
        "search_calls": search_calls,
        "search_tokens": search_tokens,
        "search_s": search_s,
        "val_score": val_score / 100 if isinstance(val_score, (int, float)) and val_score > 1 else val_score,
        "test_acc": sum(scores) / max(len(scores), 1),
        "ci_lo": lo, "ci_hi": hi,
        "test_calls": STATE["calls"] - search_calls,
        "test_errors": sum(1 for r in result.results if r[1] is None or not hasattr(r[1], "category")),
        "test_s": test_s,
        "parse_failures_search": search_failures,
        "parse_failures": STATE["parse_failures"],
        "refused_over_budget": STATE["refused"],
        "finished": finished,
        "error": error,
    }), flush=True)


if __name__ == "__main__":
    main()
