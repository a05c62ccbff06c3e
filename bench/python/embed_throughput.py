"""Sentence-embedding throughput of sentence-transformers (PyTorch, CPU) on
all-MiniLM-L6-v2: the Python side of bench/embed_bench.sh.

Usage: python embed_throughput.py SENTENCES_FILE MODEL_DIR [RUNS] [THREADS]

Embeds every line of SENTENCES_FILE once to warm up, then RUNS times (default 3), with
model.encode(batch_size=32) (sentence-transformers' default: sorts by length, pads to
the longest in each batch, truncates at 256 word pieces, mean pooling, normalisation),
and prints one JSON line like the Rust side's.
"""
import json
import statistics
import sys
import time

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer


def main() -> None:
    path, model_dir = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else torch.get_num_threads()
    torch.set_num_threads(threads)
    with open(path, encoding="utf-8") as f:
        sentences = f.read().splitlines()
    model = SentenceTransformer(model_dir, device="cpu")
    model.eval()

    def encode():
        with torch.inference_mode():
            return model.encode(sentences, batch_size=32, convert_to_numpy=True,
                                normalize_embeddings=False, show_progress_bar=False)

    encode()
    times = []
    for _ in range(max(runs, 1)):
        t = time.perf_counter()
        encode()
        times.append(time.perf_counter() - t)
    times.sort()
    median = statistics.median(times)
    print(json.dumps({
        "engine": f"sentence-transformers {sentence_transformers.__version__} (torch {torch.__version__})",
        "sentences": len(sentences),
        "runs": len(times),
        "best_s": times[0],
        "median_s": median,
        "sentences_per_s": len(sentences) / median,
        "threads": threads,
    }))


if __name__ == "__main__":
    main()
