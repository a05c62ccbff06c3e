#!/usr/bin/env python3
"""Reference greedy tokens from llama.cpp for sigil-local's parity test.

Run with the llama-cpp-python venv (scripts/dev-env.sh: ensure_server_venv):

    .dev/venv-llama/bin/python scripts/gen_local_reference.py [MODEL.gguf]

Writes crates/sigil-local/tests/golden/llama_cpp_reference.json: for each fixed
prompt, the messages, the prompt rendered with the GGUF's chat template, llama.cpp's
tokens for it (special tokens parsed, no BOS, as the GGUF's add_bos_token says), and
the first 32 greedy tokens (stopping early only at the end-of-turn token).
"""
import json
import os
import sys

import jinja2
import llama_cpp
import numpy as np

MODEL = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser(
    "~/.cache/sigil/models/SmolLM2-135M-Instruct.Q4_1.gguf")
OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "sigil-local", "tests",
                   "golden", "llama_cpp_reference.json")
N_GEN = 32

DSPY_SYSTEM = (
    "Your input fields are:\n1. `question` (str):\nYour output fields are:\n1. `answer` (str):\n"
    "All interactions will be structured in the following way, with the appropriate values filled in.\n\n"
    "[[ ## question ## ]]\n{question}\n\n[[ ## answer ## ]]\n{answer}\n\n[[ ## completed ## ]]\n"
    "In adhering to this structure, your objective is: \n        Given the fields `question`, produce the fields `answer`."
)

PROMPTS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "user", "content": "Write a short poem about the sea."}],
    [{"role": "system", "content": "You are a concise assistant."},
     {"role": "user", "content": "Explain what a neural network is in two sentences."}],
    [{"role": "user", "content": "List three fruits and their colors."}],
    [{"role": "user", "content": "What is 12 + 35? Show your reasoning step by step."}],
    [{"role": "user", "content": "Write a Python function that returns the factorial of n."}],
    [{"role": "system", "content": DSPY_SYSTEM},
     {"role": "user", "content": "[[ ## question ## ]]\nWho wrote Romeo and Juliet?\n\n"
      "Respond with the corresponding output fields, starting with the field `[[ ## answer ## ]]`, "
      "and then ending with the marker for `[[ ## completed ## ]]`."}],
    [{"role": "user", "content": "Translate to French: 'The weather is nice today, let's go for a walk.'"}],
    [{"role": "user", "content": "Give me a JSON object describing a cat with keys name, age and color."}],
    [{"role": "user", "content": "Summarize: The Industrial Revolution began in Great Britain in the late 18th century "
      "and spread to other parts of Europe and North America. It marked a shift from hand production to machines, "
      "new chemical manufacturing and iron production processes, and the increasing use of steam power. "
      "It changed daily life, with average income and population growing as never before."}],
]


def main():
    llm = llama_cpp.Llama(model_path=MODEL, n_ctx=2048, n_threads=2, n_batch=512, verbose=False)
    template = jinja2.Environment().from_string(llm.metadata["tokenizer.chat_template"])
    eot = llm.token_eos()
    cases = []
    for messages in PROMPTS:
        prompt = template.render(messages=messages, add_generation_prompt=True)
        tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        llm.reset()
        llm.eval(tokens)
        out = []
        for _ in range(N_GEN):
            # The high-level scores array stays zero without logits_all in 0.3.36.
            ptr = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
            tok = int(np.argmax(np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))))
            out.append(tok)
            if tok == eot:
                break
            llm.eval([tok])
        text = llm.detokenize(out).decode("utf-8", errors="replace")
        cases.append({"messages": messages, "prompt": prompt, "prompt_tokens": tokens,
                      "greedy_tokens": out, "greedy_text": text})
        print(repr(text[:80]), file=sys.stderr)
    with open(OUT, "w") as f:
        json.dump({"generator": "llama-cpp-python " + llama_cpp.__version__,
                   "model": os.path.basename(MODEL), "n_gen": N_GEN, "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
