"""Regenerate the ReAct golden fixtures from Python DSPy.

Run with the project's DSPy venv (dspy==3.4.1):

    .dev/venv-dspy/bin/python scripts/gen_react_goldens.py

Each case builds a `dspy.ReAct` over a signature (Sigil's string syntax) and tools given
by name, description and argument schemas. For the empty trajectory and for one and two
recorded steps it writes what DSPy sends for both of ReAct's predictors (`react` and
`extract`), with the ChatAdapter and the JSONAdapter, plus the trajectory text and the
tool list lines. No LM, no network. The Rust test crates/sigil/tests/it/react_golden.rs
rebuilds the same ReAct and checks Sigil sends the same bytes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import dspy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_adapter_goldens import build, parse_side  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "crates" / "sigil" / "tests" / "golden" / "react"

SEARCH = {
    "name": "search",
    "desc": "Search the web for a query.",
    "args": {"query": {"type": "string"}},
}
ADD = {
    "name": "add",
    "desc": "Add two integers.\nReturns their sum.",
    "args": {"a": {"type": "integer"}, "b": {"type": "integer", "default": 1}},
}
ODD = {
    "name": "odd_tool",
    "desc": None,
    "args": {
        "items": {"type": "array", "items": {"type": "string"}},
        "mode": {"enum": ["fast", "it's slow"], "type": "string", "description": 'How "fast"'},
        "flag": {"type": "boolean", "default": True},
        "ratio": {"type": "number", "default": 0.5},
        "nothing": {"default": None},
        "nested": {"type": "object", "properties": {"k": {"type": "integer"}}, "required": ["k"]},
    },
}

CASES: list[dict[str, Any]] = [
    {
        "name": "basic",
        "about": "question -> answer with one tool; default max_iters",
        "signature": "question -> answer",
        "tools": [SEARCH],
        "inputs": {"question": "Who wrote Dune?"},
        "steps": [
            {"thought": "I should search.", "tool_name": "search", "tool_args": {"query": "Dune author"},
             "observation": "Frank Herbert wrote Dune (1965)."},
            {"thought": "I know the answer.", "tool_name": "finish", "tool_args": {}, "observation": "Completed."},
        ],
    },
    {
        "name": "typed_instructions",
        "about": "instructions, typed inputs and outputs, three tools (multi-line desc, no desc, python-repr args), non-string observations",
        "signature": "question, context: list[str] -> answer, confidence: float",
        "instructions": "Answer the question.\nUse the tools when unsure.",
        "descs": {"question": "A question about numbers"},
        "tools": [SEARCH, ADD, ODD],
        "inputs": {"question": "What is 2 + 40?", "context": ["Numbers add.", "Unicode: café"]},
        "steps": [
            {"thought": "Add them.", "tool_name": "add", "tool_args": {"a": 2, "b": 40},
             "observation": 42},
            {"thought": "Odd one.\nTwo lines.", "tool_name": "odd_tool",
             "tool_args": {"items": ["x", "y"], "mode": "fast", "nested": {"k": 1}},
             "observation": {"ok": True, "values": [1.5, None, "é"]}},
        ],
    },
]


def tool_of(spec: dict[str, Any]) -> dspy.Tool:
    return dspy.Tool(func=lambda **kw: None, name=spec["name"], desc=spec["desc"], args=spec["args"])


def messages(adapter, sig, inputs) -> list[dict[str, str]]:
    out = adapter.format(sig, [], inputs)
    for m in out:
        assert isinstance(m["content"], str)
    return [{"role": m["role"], "content": m["content"]} for m in out]


def trajectory_of(steps: list[dict[str, Any]]) -> dict[str, Any]:
    t: dict[str, Any] = {}
    for i, s in enumerate(steps):
        t[f"thought_{i}"] = s["thought"]
        t[f"tool_name_{i}"] = s["tool_name"]
        t[f"tool_args_{i}"] = s["tool_args"]
        t[f"observation_{i}"] = s["observation"]
    return t


def main() -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for old in OUT_DIR.glob("*.json"):
        old.unlink()
    for case in CASES:
        base = build(case)
        react = dspy.ReAct(base, tools=[tool_of(t) for t in case["tools"]], max_iters=case.get("max_iters", 20))
        lhs, rhs = case["signature"].split("->")
        variants = []
        for n in range(len(case["steps"]) + 1):
            traj = trajectory_of(case["steps"][:n])
            inputs = dict(case["inputs"])
            record: dict[str, Any] = {"steps": n}
            for name, adapter in [("chat", dspy.ChatAdapter()), ("json", dspy.JSONAdapter())]:
                with dspy.settings.context(adapter=adapter):
                    text = react._format_trajectory(traj)
                full = dict(inputs, trajectory=text)
                record[f"trajectory_{name}"] = text
                record[f"react_{name}"] = messages(adapter, react.react.signature, full)
                record[f"extract_{name}"] = messages(adapter, react.extract.predict.signature, full)
            variants.append(record)
        doc = {
            "name": case["name"],
            "about": case["about"],
            "dspy_version": dspy.__version__,
            "signature": case["signature"],
            "instructions": case.get("instructions"),
            "descs": case.get("descs", {}),
            "input_types": {n: t for n, t, _ in parse_side(lhs)},
            "output_types": {n: t for n, t, _ in parse_side(rhs)},
            "tools": case["tools"],
            "tool_lines": [str(t) for t in react.tools.values()],
            "react_instructions": react.react.signature.instructions,
            "extract_instructions": react.extract.predict.signature.instructions,
            "react_fields": list(react.react.signature.fields.keys()),
            "extract_fields": list(react.extract.predict.signature.fields.keys()),
            "inputs": case["inputs"],
            "trajectory_steps": case["steps"],
            "variants": variants,
        }
        path = OUT_DIR / f"{case['name']}.json"
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
