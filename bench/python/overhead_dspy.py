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
    for _ in range(max(calls // 10, 1)):
        fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) * 1e6 / calls


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
        lm = DummyLM([{"answer": "Paris"}] * (CALLS * 2))
        dspy.configure(lm=lm, adapter=dspy.ChatAdapter())
        predict = dspy.Predict("question -> answer")
        predict.demos = demos(n)
        us = time_calls(lambda: predict(question="What is the capital of France?"), CALLS)
        report(f"predict_{n}_demos", us, CALLS)

    lm = DummyLM([{"reasoning": "It is Paris.", "answer": "Paris"}] * (CALLS * 2))
    dspy.configure(lm=lm, adapter=dspy.ChatAdapter())
    cot = dspy.ChainOfThought("question -> answer")
    report("chain_of_thought_0_demos", time_calls(lambda: cot(question="What is the capital of France?"), CALLS), CALLS)

    chain_calls = max(CALLS // 10, 20)
    lm = DummyLM([{"answer": "Paris"}] * (chain_calls * 25))
    dspy.configure(lm=lm, adapter=dspy.ChatAdapter())
    chain = Chain(10)
    report("chain_10_deep", time_calls(lambda: chain(question="What is the capital of France?"), chain_calls), chain_calls)


if __name__ == "__main__":
    main()
