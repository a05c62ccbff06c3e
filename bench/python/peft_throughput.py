"""Training throughput of PyTorch + PEFT LoRA on CPU, the peer of sigil-finetune.

    peft_throughput.py MODEL.gguf BATCH SEQ_LEN STEPS

transformers loads the same GGUF base (dequantized to f32); LoRA rank 8, alpha 16 on all
seven projections, as sigil-finetune's speed probe; the loss on the last 22 positions
(a Banking77 reply's length); AdamW. Prints tokens/s per step.
"""
import sys, time, os, torch
from transformers import AutoModelForCausalLM
from peft import LoraConfig, get_peft_model
path = sys.argv[1]; b = int(sys.argv[2]); t = int(sys.argv[3]); steps = int(sys.argv[4])
torch.manual_seed(0)
m = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), torch_dtype=torch.float32)
m = get_peft_model(m, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj","k_proj","v_proj","o_proj","gate_proj","up_proj","down_proj"], lora_dropout=0.0))
opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=1e-4)
ids = torch.randint(0, 49152, (b, t))
labels = ids.clone(); labels[:, : t - 22] = -100
for s in range(steps):
    t0 = time.time()
    out = m(input_ids=ids, labels=labels)
    out.loss.backward(); opt.step(); opt.zero_grad()
    print(f"step {s} loss {out.loss.item():.3f} {b*t/(time.time()-t0):.1f} tok/s", flush=True)
