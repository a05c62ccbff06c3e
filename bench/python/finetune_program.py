"""Writes the fine-tune benchmark's program file and data from a Banking77 split.

    finetune_program.py SPLIT.json OUT_DIR EPOCHS LR RANK BATCH

OUT_DIR gets train.jsonl, val.jsonl, test.jsonl, finetune.toml and prompt.toml: the
compile benchmark's task (first 10 intents, the same instructions) on the embedded
SmolLM2, compiled with kind = "bootstrap_finetune" on the trainset's labels (LoRA on the
CPU), and the same task compiled for its prompt (BootstrapFewShotWithRandomSearch,
3 candidates of up to 3 demos, at most 200 LM calls), scored on the same test messages.
"""
import json
import os
import sys


def main():
    split_path, out, epochs, lr, rank, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    split = json.load(open(split_path))
    os.makedirs(out, exist_ok=True)
    for part in ("train", "val", "test"):
        with open(os.path.join(out, f"{part}.jsonl"), "w") as f:
            for r in split[part]:
                f.write(json.dumps({"text": r["text"], "category": r["category"]}) + "\n")
    labels = ", ".join(split["labels"])
    program = f'''name = "banking77_finetune"
[lm]
model = "local"
temperature = 0.0
max_tokens = 32
[[step]]
name = "classify"
signature = "text -> category: enum[{labels}]"
instructions = {json.dumps(split["instructions"])}
[data]
train = "train.jsonl"
val = "val.jsonl"
test = "test.jsonl"
inputs = ["text"]
[metric]
kind = "exact_match"
field = "category"
[optimizer]
kind = "bootstrap_finetune"
seed = 0
[optimizer.finetune]
data = "labels"
epochs = {epochs}
learning_rate = {lr}
rank = {rank}
batch_size = {batch}
out_dir = "adapters"
'''
    with open(os.path.join(out, "finetune.toml"), "w") as f:
        f.write(program)
    head = program[: program.index("[optimizer]")].replace("banking77_finetune", "banking77_prompt")
    with open(os.path.join(out, "prompt.toml"), "w") as f:
        f.write(head + """[optimizer]
kind = "random_search"
seed = 0
num_candidates = 3
max_bootstrapped_demos = 3
max_labeled_demos = 3
budget = { max_calls = 200 }
""")


if __name__ == "__main__":
    main()
