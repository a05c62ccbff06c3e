#!/usr/bin/env bash
# Embedded engine (sigil-local) vs llama.cpp (llama-cpp-python 0.3.36), same GGUF,
# 2 threads each (SIGIL_BENCH_THREADS=N to change): prefill tok/s (~600-token prompt), decode tok/s (128 tokens), and
# wall time of 60 Banking77 queries sharing a system prompt + 10 demos, constrained
# to 10 labels. Prints a markdown table; the figures stay in OUT_DIR as
# local_llama_cpp.json and local_sigil.json (bench/run reads them).
#   bench/local_bench.sh [OUT_DIR]   (default .dev/bench)
set -euo pipefail
source "$(dirname "$0")/../scripts/dev-env.sh"
cd "$SIGIL_REPO"
ensure_server_venv
ensure_model
out="${1:-$SIGIL_DEV_DIR/bench}"
mkdir -p "$out"
say "llama.cpp side (also writes the shared workload)"
"$SIGIL_DEV_DIR/venv-llama/bin/python" bench/python/local_llama_cpp.py "$SIGIL_MODEL" \
  "$SIGIL_REPO/../shared/data/banking77" "$out/local_workload.json" >"$out/local_llama_cpp.json"
say "sigil-local side"
cargo build --release -q -p sigil-local --example bench_local
RAYON_NUM_THREADS=${SIGIL_BENCH_THREADS:-2} "${CARGO_TARGET_DIR:-target}"/release/examples/bench_local "$SIGIL_MODEL" "$out/local_workload.json" >"$out/local_sigil.json"
"$PYTHON" - "$out/local_llama_cpp.json" "$out/local_sigil.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
print("| engine | prefill tok/s | decode tok/s | 60-query workload (s) | accuracy |")
print("|---|---|---|---|---|")
for r in (a, b):
    print(f"| {r['engine']} | {r['prefill_tok_s']:.0f} ({r['prefill_tokens']} tokens) | {r['decode_tok_s']:.1f} | {r['workload_s']:.2f} | {r['workload_accuracy']:.0%} |")
print(f"| ratio sigil/llama.cpp | {b['prefill_tok_s']/a['prefill_tok_s']:.2f}x | {b['decode_tok_s']/a['decode_tok_s']:.2f}x | {a['workload_s']/b['workload_s']:.2f}x (speed) | |")
print(f"\nsigil-local peak RSS: {b.get('max_rss_mib', 0):.0f} MiB")
if 'calls_per_s_c1' in b:
    c1, c8 = b['calls_per_s_c1'], b['calls_per_s_c8']
    print(f"sigil-local batching (16 calls, 32 tokens each): {c1:.2f} calls/s at concurrency 1, {c8:.2f} at concurrency 8 ({c8 / c1:.2f}x)")
PY
