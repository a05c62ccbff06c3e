"""Per-call overhead of Python DSPy's Predict with its DummyLM (the peer of bench/src/bin/overhead.rs).

Prints one JSON line per case: {"case", "calls", "us_per_call"}. Usage: overhead_dspy.py [CALLS]
"""
import json
import sys
import time

import dspy
from dspy.utils.dummies import DummyLM

CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000


def demos(n):
    return [dspy.Example(question=f"What is {i} plus {i}?", answer=str(2 * i)).with_inputs("question") for i in range(n)]


def time_calls(fn, calls):
    """The best of three timed rounds, after a warm-up (as bench/src/bin/overhead.rs)."""
    for _ in range(max(calls // 10, 1)):
        fn()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) * 1e6 / calls)
    return best


class Chain(dspy.Module):
    def __init__(self, depth):
        super().__init__()
        self.steps = [dspy.Predict("question -> answer") for _ in range(depth)]

    def forward(self, question):
        out = None
        for step in self.steps:
            out = step(question=question)
            question = out.answer
        return out


def report(case, us, calls):
    print(json.dumps({"case": case, "calls": calls, "us_per_call": us}), flush=True)


def main():
    # Enough answers for warm-up plus timed calls; DummyLM pops them in order.
    for n in (0, 4):
        lm = DummyLM([{"answer": "Paris"}] * (CALLS * 4))
        dspy.configure(lm=lm, adapter=dspy.ChatAdapter())
        predict = dspy.Predict("question -> answer")
        predict.demos = demos(n)
        us = time_calls(lambda: predict(question="What is the capital of France?"), CALLS)
        report(f"predict_{n}_demos", us, CALLS)

    lm = DummyLM([{"reasoning": "It is Paris.", "answer": "Paris"}] * (CALLS * 4))
    dspy.configure(lm=lm, adapter=dspy.ChatAdapter())
    cot = dspy.ChainOfThought("question -> answer")
    report("chain_of_thought_0_demos", time_calls(lambda: cot(question="What is the capital of France?"), CALLS), CALLS)

    chain_calls = max(CALLS // 10, 20)
    lm = DummyLM([{"answer": "Paris"}] * (chain_calls * 45))
    dspy.configure(lm=lm, adapter=dspy.ChatAdapter())
    chain = Chain(10)
    report("chain_10_deep", time_calls(lambda: chain(question="What is the capital of France?"), chain_calls), chain_calls)
    react_iteration()


def noop() -> str:
    """Does nothing."""
    return "ok"


def react_iteration():
    # The framework's cost per ReAct iteration: runs of 10 and 2 iterations, the
    # difference over 8 (as bench/src/bin/overhead.rs measures it).
    runs = max(CALLS // 20, 10)
    answer = {"next_thought": "Call the tool.", "next_tool_name": "noop", "next_tool_args": {},
              "reasoning": "Done.", "answer": "Paris"}
    lm = DummyLM([answer] * (runs * 4 * 13 * 4))
    dspy.configure(lm=lm, adapter=dspy.ChatAdapter())
    short = dspy.ReAct("question -> answer", tools=[noop], max_iters=2)
    long = dspy.ReAct("question -> answer", tools=[noop], max_iters=10)
    t2 = time_calls(lambda: short(question="What is the capital of France?"), runs)
    t10 = time_calls(lambda: long(question="What is the capital of France?"), runs)
    print(json.dumps({"case": "react_iteration", "calls": 2 * runs, "us_per_call": (t10 - t2) / 8,
                      "us_per_run_2_iters": t2, "us_per_run_10_iters": t10}), flush=True)


if __name__ == "__main__":
    main()
