"""Training throughput of PyTorch + PEFT LoRA on CPU, the peer of sigil-finetune.

    peft_throughput.py MODEL.gguf TOKENS.json BATCH STEPS

TOKENS.json is what sigil-finetune's speed probe trained on (`--dump`): each example's
token ids and how many of its last tokens are the reply. transformers loads the same
GGUF base (dequantized to f32); LoRA rank 8, alpha 16 on all seven projections, as the
probe; the loss on the reply tokens only; AdamW; the same batches in the same order,
right-padded with an attention mask. Prints tokens/s per step, then one JSON line with
the whole run's tokens/s (the examples' tokens, padding not counted, as the probe).
"""
import json
import os
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM


def main():
    path, tokens_path, b, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rows = json.load(open(tokens_path))
    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    m = AutoModelForCausalLM.from_pretrained(
        os.path.dirname(path), gguf_file=os.path.basename(path), torch_dtype=torch.float32
    )
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    m = get_peft_model(m, LoraConfig(r=8, lora_alpha=16, target_modules=targets, lora_dropout=0.0))
    m.train()
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4)
    total_tokens, started = 0, time.time()
    for s in range(steps):
        batch = rows[(s * b) % len(rows):][:b]
        t = max(len(r["tokens"]) for r in batch)
        ids = torch.zeros((len(batch), t), dtype=torch.long)
        mask = torch.zeros((len(batch), t), dtype=torch.long)
        labels = torch.full((len(batch), t), -100, dtype=torch.long)
        for i, r in enumerate(batch):
            n = len(r["tokens"])
            ids[i, :n] = torch.tensor(r["tokens"])
            mask[i, :n] = 1
            labels[i, n - r["targets"]:n] = ids[i, n - r["targets"]:n]
        n_tok = sum(len(r["tokens"]) for r in batch)
        t0 = time.time()
        out = m(input_ids=ids, attention_mask=mask, labels=labels)
        out.loss.backward()
        opt.step()
        opt.zero_grad()
        total_tokens += n_tok
        print(f"step {s} loss {out.loss.item():.3f} {n_tok / (time.time() - t0):.1f} tok/s", flush=True)
    secs = time.time() - started
    print(json.dumps({"framework": "peft", "batch": b, "steps": steps, "tokens": total_tokens,
                      "seconds": secs, "tokens_per_s": total_tokens / secs}))


if __name__ == "__main__":
    main()
