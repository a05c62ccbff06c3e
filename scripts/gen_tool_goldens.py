"""Regenerate the tool-type golden fixtures from Python DSPy.

Run with the project's DSPy venv (dspy==3.4.1):

    .dev/venv-dspy/bin/python scripts/gen_tool_goldens.py

Signatures with `list[Tool]` / `Tool` inputs and `ToolCalls` outputs. For each case it
writes what `dspy.ChatAdapter().format(...)` and `dspy.JSONAdapter().format(...)` send
(tools listed as text), and what they send in native function calling: the messages
after `Adapter._call_preprocess` removed the tool fields, and the `tools` it put in the
LM call. Parse cases record what DSPy reads from a completion (text mode) and from an
LM output with native tool calls (`Adapter._call_postprocess`). No LM, no network.

Tools are written as Sigil's tool specs (`{"name", "description", "parameters"}`); the
script turns each into a `dspy.Tool` with those `args`. The Rust test
crates/sigil/tests/it/tool_types_golden.rs checks Sigil against these files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import dspy
from dspy.adapters.utils import serialize_for_json
from dspy.utils.exceptions import AdapterParseError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_adapter_goldens import parse_side as base_parse_side, split_top  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "crates" / "sigil" / "tests" / "golden" / "tools"

SEARCH = {
    "name": "search",
    "description": "Search the web for a query.\nReturns the top snippets.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
}
ADD = {
    "name": "add",
    "description": None,
    "parameters": {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer", "default": 1, "description": 'The "second" one'}},
        "required": ["a"],
    },
}
WEATHER = {
    "name": "get_weather",
    "description": "Weather for a city (°C).",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "units": {"enum": ["c", "f"], "type": "string", "default": "c"}},
        "required": ["city"],
    },
}

CASES: list[dict[str, Any]] = [
    {
        "name": "tools_input_text_answer",
        "about": "a list[Tool] input rendered as DSPy's str(tool) lines; a str answer; a demo",
        "signature": "question, tools: list[Tool] -> answer",
        "demos": [{"question": "Weather in Oslo?", "tools": [WEATHER], "answer": "Cold."}],
        "inputs": {"question": "What is 2 + 40?", "tools": [SEARCH, ADD]},
    },
    {
        "name": "tool_calls_output",
        "about": "question, tools -> tool_calls: ToolCalls; type description and schema note; a demo with calls",
        "signature": "question, tools: list[Tool] -> tool_calls: ToolCalls",
        "demos": [
            {"question": "Find Dune's author.", "tools": [SEARCH],
             "tool_calls": {"tool_calls": [{"name": "search", "args": {"query": "Dune author"}}]}},
        ],
        "inputs": {"question": "Weather in Paris, and 2 + 2?", "tools": [SEARCH, ADD, WEATHER]},
    },
    {
        "name": "single_tool_mixed_outputs",
        "about": "a single Tool input, instructions, a str and an optional ToolCalls output alongside",
        "signature": "question, tool: Tool -> reasoning, calls: ToolCalls, note: optional[str]",
        "instructions": "Decide whether to call the tool.",
        "inputs": {"question": "Is it raining in Lima?", "tool": WEATHER},
    },
]

# Completions read in text mode (ChatAdapter / JSONAdapter .parse).
PARSE_CASES: list[dict[str, Any]] = [
    {"name": "chat_object", "adapter": "chat", "signature": "question, tools: list[Tool] -> tool_calls: ToolCalls",
     "completion": "[[ ## tool_calls ## ]]\n{\"tool_calls\": [{\"name\": \"add\", \"args\": {\"a\": 2, \"b\": 3}}]}\n\n[[ ## completed ## ]]"},
    {"name": "chat_bare_list", "adapter": "chat", "signature": "question, tools: list[Tool] -> tool_calls: ToolCalls",
     "completion": "[[ ## tool_calls ## ]]\n[{\"name\": \"search\", \"args\": {\"query\": \"x\"}}, {\"name\": \"add\", \"args\": {\"a\": 1}}]\n[[ ## completed ## ]]"},
    {"name": "chat_one_call_string_arguments", "adapter": "chat", "signature": "question, tools: list[Tool] -> tool_calls: ToolCalls",
     "completion": "[[ ## tool_calls ## ]]\n{\"name\": \"add\", \"arguments\": \"{\\\"a\\\": 2}\"}\n[[ ## completed ## ]]"},
    {"name": "chat_provider_shape", "adapter": "chat", "signature": "question, tools: list[Tool] -> tool_calls: ToolCalls",
     "completion": "[[ ## tool_calls ## ]]\n[{\"type\": \"function\", \"function\": {\"name\": \"search\", \"arguments\": \"{\\\"query\\\": \\\"y\\\"}\"}}]"},
    {"name": "chat_python_literal_empty", "adapter": "chat", "signature": "question, tools: list[Tool] -> answer, tool_calls: ToolCalls",
     "completion": "[[ ## answer ## ]]\nNone needed.\n\n[[ ## tool_calls ## ]]\n{'tool_calls': []}\n\n[[ ## completed ## ]]"},
    {"name": "chat_not_tool_calls", "adapter": "chat", "signature": "question, tools: list[Tool] -> tool_calls: ToolCalls",
     "completion": "[[ ## tool_calls ## ]]\nadd(2, 3)\n[[ ## completed ## ]]"},
    {"name": "chat_call_without_args", "adapter": "chat", "signature": "question, tools: list[Tool] -> tool_calls: ToolCalls",
     "completion": "[[ ## tool_calls ## ]]\n[{\"name\": \"add\"}]"},
    {"name": "json_object", "adapter": "json", "signature": "question, tools: list[Tool] -> tool_calls: ToolCalls",
     "completion": "{\"tool_calls\": {\"tool_calls\": [{\"name\": \"search\", \"args\": {\"query\": \"cats\"}}]}}"},
    {"name": "json_bare_list", "adapter": "json", "signature": "question, tools: list[Tool] -> answer, tool_calls: ToolCalls",
     "completion": "{\"answer\": \"ok\", \"tool_calls\": [{\"name\": \"add\", \"args\": {\"a\": 1, \"b\": 2}}]}"},
    {"name": "json_bad_tool_calls", "adapter": "json", "signature": "question, tools: list[Tool] -> tool_calls: ToolCalls",
     "completion": "{\"tool_calls\": \"search cats\"}"},
]

# LM outputs read in native function calling (Adapter._call_postprocess).
NATIVE_PARSE_CASES: list[dict[str, Any]] = [
    {"name": "calls_only", "adapter": "chat", "signature": "question, tools: list[Tool] -> tool_calls: ToolCalls",
     "text": None,
     "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "search", "arguments": "{\"query\": \"Paris\"}"}}]},
    {"name": "calls_and_text_answer", "adapter": "chat", "signature": "question, tools: list[Tool] -> answer, tool_calls: ToolCalls",
     "text": "[[ ## answer ## ]]\nLet me check.\n\n[[ ## completed ## ]]",
     "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "add", "arguments": "{\"a\": 1, \"b\": 2}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "search", "arguments": "{}"}}]},
    {"name": "calls_with_unparsable_text", "adapter": "chat", "signature": "question, tools: list[Tool] -> answer, tool_calls: ToolCalls",
     "text": "I will call a tool.",
     "tool_calls": [{"id": "c", "type": "function", "function": {"name": "add", "arguments": "{\"a\": 5}"}}]},
    {"name": "no_calls_text_answer", "adapter": "chat", "signature": "question, tools: list[Tool] -> answer, tool_calls: ToolCalls",
     "text": "[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]", "tool_calls": None},
    {"name": "no_calls_missing_answer", "adapter": "chat", "signature": "question, tools: list[Tool] -> answer, tool_calls: ToolCalls",
     "text": "Forty-two.", "tool_calls": None},
    {"name": "no_calls_only_tool_calls_field", "adapter": "chat", "signature": "question, tools: list[Tool] -> tool_calls: ToolCalls",
     "text": "I don't need a tool.", "tool_calls": None},
    {"name": "empty", "adapter": "chat", "signature": "question, tools: list[Tool] -> tool_calls: ToolCalls",
     "text": "", "tool_calls": None},
    {"name": "json_calls_and_answer", "adapter": "json", "signature": "question, tools: list[Tool] -> answer, tool_calls: ToolCalls",
     "text": "{\"answer\": \"checking\"}",
     "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "search", "arguments": "{\"query\": \"z\"}"}}]},
    {"name": "json_no_calls_prose", "adapter": "json", "signature": "question, tools: list[Tool] -> tool_calls: ToolCalls",
     "text": "No tool needed.", "tool_calls": None},
]


TOOL_TYPES: dict[str, tuple[dict, Any]] = {
    "list[Tool]": ({"kind": "list", "item": {"kind": "tool"}}, list[dspy.Tool]),
    "Tool": ({"kind": "tool"}, dspy.Tool),
    "ToolCalls": ({"kind": "tool_calls"}, dspy.ToolCalls),
}


def parse_side(text: str) -> list[tuple[str, dict, Any]]:
    """The adapter goldens' field parser, plus DSPy's tool types."""
    out = []
    for part in split_top(text):
        name, _, ty = part.partition(":")
        if ty.strip() in TOOL_TYPES:
            out.append((name.strip(), *TOOL_TYPES[ty.strip()]))
        else:
            out.extend(base_parse_side(part))
    return out


def build(signature: str, instructions: str | None = None):
    lhs, rhs = signature.split("->")
    fields: dict[str, Any] = {}
    for name, _t, ann in parse_side(lhs):
        fields[name] = (ann, dspy.InputField())
    for name, _t, ann in parse_side(rhs):
        fields[name] = (ann, dspy.OutputField())
    return dspy.Signature(fields, instructions)


def field_records(signature: str) -> tuple[list[dict], list[dict]]:
    lhs, rhs = signature.split("->")
    return ([{"name": n, "type": t} for n, t, _ in parse_side(lhs)], [{"name": n, "type": t} for n, t, _ in parse_side(rhs)])


def tool_of(spec: dict[str, Any]) -> dspy.Tool:
    return dspy.Tool(func=lambda **kw: None, name=spec["name"], desc=spec["description"], args=spec["parameters"]["properties"])


def with_tools(values: dict[str, Any]) -> dict[str, Any]:
    """Tool specs (one, or a list of them) turned into dspy.Tool objects."""
    out = {}
    for k, v in values.items():
        if isinstance(v, dict) and "parameters" in v:
            out[k] = tool_of(v)
        elif isinstance(v, list) and v and all(isinstance(x, dict) and "parameters" in x for x in v):
            out[k] = [tool_of(x) for x in v]
        else:
            out[k] = v
    return out


def plain(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    for m in messages:
        assert isinstance(m["content"], str), "only text messages are supported"
    return [{"role": m["role"], "content": m["content"]} for m in messages]


class FunctionCallingLM:
    """What `_call_preprocess` asks of an LM: only whether it calls functions natively."""

    supports_function_calling = True


def native(adapter, sig, demos, inputs) -> dict[str, Any]:
    lm_kwargs: dict[str, Any] = {}
    processed = adapter._call_preprocess(FunctionCallingLM(), lm_kwargs, sig, inputs)
    return {"messages": plain(adapter.format(processed, demos, inputs)), "tools": lm_kwargs.get("tools")}


def main() -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for old in OUT_DIR.glob("*.json"):
        old.unlink()
    for case in CASES:
        sig = build(case["signature"], case.get("instructions"))
        demos = [with_tools(d) for d in case.get("demos", [])]
        inputs = with_tools(case["inputs"])
        inputs_fields, output_fields = field_records(case["signature"])
        record: dict[str, Any] = {
            "name": case["name"],
            "about": case["about"],
            "dspy_version": dspy.__version__,
            "signature": case["signature"],
            "instructions": case.get("instructions"),
            "dspy_instructions": sig.instructions,
            "input_fields": inputs_fields,
            "output_fields": output_fields,
            "demos": case.get("demos", []),
            "inputs": case["inputs"],
            "chat": plain(dspy.ChatAdapter().format(sig, demos, inputs)),
            "json": plain(dspy.JSONAdapter().format(sig, demos, inputs)),
        }
        has_calls = any(t == {"kind": "tool_calls"} for t in [f["type"] for f in output_fields])
        if has_calls:
            record["native_chat"] = native(dspy.ChatAdapter(use_native_function_calling=True), sig, demos, inputs)
            record["native_json"] = native(dspy.JSONAdapter(), sig, demos, inputs)
        path = OUT_DIR / f"{case['name']}.json"
        path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")

    parse_records = []
    for case in PARSE_CASES:
        sig = build(case["signature"])
        adapter = dspy.ChatAdapter() if case["adapter"] == "chat" else dspy.JSONAdapter()
        inputs_fields, output_fields = field_records(case["signature"])
        rec: dict[str, Any] = {**case, "input_fields": inputs_fields, "output_fields": output_fields}
        try:
            rec["dspy_result"] = serialize_for_json(adapter.parse(sig, case["completion"]))
            rec["dspy_error"] = None
        except (AdapterParseError, ValueError) as e:
            rec["dspy_result"] = None
            rec["dspy_error"] = type(e).__name__
        parse_records.append(rec)

    native_records = []
    for case in NATIVE_PARSE_CASES:
        sig = build(case["signature"])
        if case["adapter"] == "chat":
            adapter = dspy.ChatAdapter(use_native_function_calling=True)
        else:
            adapter = dspy.JSONAdapter()
        lm_kwargs: dict[str, Any] = {}
        inputs = {"question": "q", "tools": [tool_of(SEARCH), tool_of(ADD)]}
        processed = adapter._call_preprocess(FunctionCallingLM(), lm_kwargs, sig, inputs)
        inputs_fields, output_fields = field_records(case["signature"])
        rec = {**case, "input_fields": inputs_fields, "output_fields": output_fields}
        output = {"text": case["text"], "tool_calls": case["tool_calls"]}
        try:
            [value] = adapter._call_postprocess(processed, sig, [output], FunctionCallingLM(), lm_kwargs)
            rec["dspy_result"] = serialize_for_json(value)
            rec["dspy_error"] = None
        except (AdapterParseError, ValueError) as e:
            rec["dspy_result"] = None
            rec["dspy_error"] = type(e).__name__
        native_records.append(rec)

    parse_dir = OUT_DIR / "parse"
    parse_dir.mkdir(exist_ok=True)
    doc = {"dspy_version": dspy.__version__, "text": parse_records, "native": native_records}
    path = parse_dir / "cases.json"
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
