#!/usr/bin/env python3
"""llama.cpp side of the embedded-engine benchmark (bench/local_bench.sh).

    local_llama_cpp.py MODEL DATA_DIR WORKLOAD_JSON

Writes the shared workload (so both engines see identical prompts) to WORKLOAD_JSON,
then measures llama.cpp (llama-cpp-python, 2 threads) and prints one JSON line:
prefill tokens/s on a ~600-token prompt, decode tokens/s over 128 tokens, and the wall
time of 60 Banking77 queries sharing a system prompt with 10 demos, constrained to the
10 labels by a grammar.
"""
import csv
import json
import os
import sys
import time

import llama_cpp
import numpy as np

model, data_dir, workload_path = sys.argv[1:4]
labels = json.load(open(os.path.join(data_dir, "categories.json")))[:10]
rows = lambda f: [r for r in csv.DictReader(open(os.path.join(data_dir, f))) if r["category"] in labels]
train, test = rows("train.csv"), rows("test.csv")
demos = [next(r for r in train if r["category"] == l) for l in labels]
queries = test[:60]
system = ("Classify the customer's banking question into exactly one of these labels: "
          + ", ".join(labels) + ". Answer with the label only.")
def messages(q):
    m = [{"role": "system", "content": system}]
    for d in demos:
        m += [{"role": "user", "content": d["text"]}, {"role": "assistant", "content": d["category"]}]
    return m + [{"role": "user", "content": q}]
long_text = " ".join(r["text"] for r in train[:200])
workload = {
    "labels": labels,
    "queries": [{"messages": messages(q["text"]), "label": q["category"]} for q in queries],
    "prefill_messages": [{"role": "user", "content": long_text}],
    "decode_messages": [{"role": "user", "content": "Write a long essay about the history of banking."}],
}

threads = int(os.environ.get("SIGIL_BENCH_THREADS", "2"))
llm = llama_cpp.Llama(model_path=model, n_ctx=4096, n_threads=threads, n_threads_batch=threads, n_batch=1024, verbose=False)
template = __import__("jinja2").Environment().from_string(llm.metadata["tokenizer.chat_template"])
tok = lambda msgs: llm.tokenize(template.render(messages=msgs, add_generation_prompt=True).encode(), add_bos=False, special=True)

# Prefill: trim the long prompt to ~600 tokens.
words = long_text.split()
while len(tok([{"role": "user", "content": " ".join(words)}])) > 600:
    words = words[:-5]
workload["prefill_messages"] = [{"role": "user", "content": " ".join(words)}]
json.dump(workload, open(workload_path, "w"))
ptoks = tok(workload["prefill_messages"])
best = None
for _ in range(3):
    llm.reset()
    t = time.perf_counter(); llm.eval(ptoks); dt = time.perf_counter() - t
    best = dt if best is None else min(best, dt)
prefill = len(ptoks) / best

# Decode: 128 greedy tokens, end-of-turn ignored.
dtoks = tok(workload["decode_messages"])
llm.reset(); llm.eval(dtoks)
t = time.perf_counter()
for _ in range(128):
    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(llm.n_vocab(),))
    llm.eval([int(np.argmax(logits))])
decode = 128 / (time.perf_counter() - t)

# Workload: constrained to the labels by a grammar; llama-cpp-python reuses the shared prefix.
grammar = llama_cpp.LlamaGrammar.from_string("root ::= " + " | ".join(json.dumps(l) for l in labels), verbose=False)
llm.reset()
t = time.perf_counter()
correct = 0
for q in workload["queries"]:
    out = llm.create_chat_completion(messages=q["messages"], grammar=grammar, max_tokens=16, temperature=0.0)
    correct += out["choices"][0]["message"]["content"].strip() == q["label"]
wall = time.perf_counter() - t
print(json.dumps({"engine": "llama.cpp (llama-cpp-python " + llama_cpp.__version__ + ")", "prefill_tokens": len(ptoks),
                  "prefill_tok_s": prefill, "decode_tok_s": decode, "workload_s": wall,
                  "workload_accuracy": correct / len(workload["queries"])}))
