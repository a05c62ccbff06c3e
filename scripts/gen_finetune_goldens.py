"""Regenerate the fine-tuning data goldens from Python DSPy.

Run with the project's DSPy venv (dspy==3.4.1):

    .dev/venv-dspy/bin/python scripts/gen_finetune_goldens.py

Each case is a signature (Sigil's string syntax), demos, the inputs of one predictor
call and the outputs it produced. It writes what DSPy's BootstrapFinetune turns that
call into: `ChatAdapter().format_finetune_data(...)`, the messages the adapter sends at
inference followed by the assistant completion (OpenAI's chat fine-tuning format). No
LM, no network. The Rust test crates/sigil/tests/it/finetune_data_golden.rs checks that
Sigil writes the same messages.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import dspy
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_adapter_goldens import build, field_record, parse_side  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "crates" / "sigil" / "tests" / "golden" / "finetune"

CASES: list[dict[str, Any]] = [
    {
        "name": "basic_qa",
        "about": "one str input, one str output, no demos",
        "signature": "question -> answer",
        "inputs": {"question": "What is the capital of France?"},
        "outputs": {"answer": "Paris"},
    },
    {
        "name": "classify_with_demos",
        "about": "a literal label, instructions, two complete demos",
        "signature": "text -> label: enum[card_arrival, exchange_rate, lost_or_stolen_card]",
        "instructions": "Classify the banking message by intent.",
        "demos": [
            {"text": "When will my card arrive?", "label": "card_arrival"},
            {"text": "Someone stole my wallet.", "label": "lost_or_stolen_card"},
        ],
        "inputs": {"text": "What rate do you use for euros?"},
        "outputs": {"label": "exchange_rate"},
    },
    {
        "name": "typed_outputs",
        "about": "int, float, bool, list and dict outputs",
        "signature": "question, context: list[str] -> count: int, score: float, ok: bool, tags: list[str], extra: dict[str, int]",
        "inputs": {"question": "How many?", "context": ["one", "two \"quoted\""]},
        "outputs": {"count": 2, "score": 0.75, "ok": True, "tags": ["a", "b"], "extra": {"x": 1}},
    },
    {
        "name": "chain_of_thought",
        "about": "ChainOfThought's predictor: reasoning then answer, multi-line values",
        "signature": "question -> answer",
        "module": "chain_of_thought",
        "inputs": {"question": "2 + 2?"},
        "outputs": {"reasoning": "Two and two.\nThat makes four.", "answer": "4"},
    },
]


def main() -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for old in OUT_DIR.glob("*.json"):
        old.unlink()
    for case in CASES:
        sig = build(case)
        lhs, rhs = case["signature"].split("->")
        types = {name: ft for name, ft, _ in parse_side(lhs) + parse_side(rhs)}
        types.setdefault("reasoning", {"kind": "str"})
        demos = case.get("demos", [])
        data = dspy.ChatAdapter().format_finetune_data(sig, demos, case["inputs"], case["outputs"])
        record = {
            "name": case["name"],
            "about": case["about"],
            "dspy_version": dspy.__version__,
            "signature": case["signature"],
            "module": case.get("module", "predict"),
            "instructions": case.get("instructions"),
            "dspy_instructions": sig.instructions,
            "input_fields": [field_record(n, f, types[n]) for n, f in sig.input_fields.items()],
            "output_fields": [field_record(n, f, types[n]) for n, f in sig.output_fields.items()],
            "demos": demos,
            "inputs": case["inputs"],
            "outputs": case["outputs"],
            "messages": [{"role": m["role"], "content": m["content"]} for m in data["messages"]],
            # The JSONL line DSPy writes for a fine-tuning job (`write_lines`: orjson).
            "jsonl_line": orjson.dumps(data).decode("utf-8"),
        }
        path = OUT_DIR / f"{case['name']}.json"
        path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
