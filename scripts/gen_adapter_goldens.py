"""Regenerate the adapter golden fixtures from Python DSPy.

Run with the project's DSPy venv (dspy==3.4.1):

    .dev/venv-dspy/bin/python scripts/gen_adapter_goldens.py

Each case declares a signature in Sigil's string syntax (plus optional field
descriptions and instructions), demos and inputs. The script builds the same
signature in DSPy, asks `dspy.ChatAdapter().format(...)` and
`dspy.JSONAdapter().format(...)` for the messages (no LM, no network) and writes
one JSON file per case under crates/sigil/tests/golden/adapters/. The Rust test
crates/sigil/tests/it/chat_adapter_golden.rs rebuilds each signature from the
recorded fields and checks Sigil's adapters produce the same bytes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal, Optional

import dspy
import pydantic

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "crates" / "sigil" / "tests" / "golden" / "adapters"


# Nested object types available to the cases, by name.
class Address(pydantic.BaseModel):
    street: str
    city: str
    zip_code: Optional[str] = None


class Person(pydantic.BaseModel):
    name: str
    age: int
    emails: list[str]
    address: Optional[Address] = None


MODELS: dict[str, type[pydantic.BaseModel]] = {"Address": Address, "Person": Person}


# --- Sigil type syntax -> (FieldType JSON, Python annotation) -----------------


class TypeParser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def eat(self, ch: str) -> None:
        if self.peek() != ch:
            raise ValueError(f"expected {ch!r} at {self.pos} in {self.text!r}")
        self.pos += 1

    def word(self) -> str:
        self.skip_ws()
        if self.peek() in ("'", '"'):
            quote = self.text[self.pos]
            end = self.text.index(quote, self.pos + 1)
            word = self.text[self.pos + 1 : end]
            self.pos = end + 1
            return word
        start = self.pos
        while self.pos < len(self.text) and (self.text[self.pos].isalnum() or self.text[self.pos] in "_."):
            self.pos += 1
        if start == self.pos:
            raise ValueError(f"expected a name at {self.pos} in {self.text!r}")
        return self.text[start : self.pos]

    def parse(self) -> tuple[dict, Any]:
        name = self.word()
        low = name.lower()
        if low == "str":
            return {"kind": "str"}, str
        if low == "int":
            return {"kind": "int"}, int
        if low == "float":
            return {"kind": "float"}, float
        if low == "bool":
            return {"kind": "bool"}, bool
        if low == "list":
            self.eat("[")
            item, ann = self.parse()
            self.eat("]")
            return {"kind": "list", "item": item}, list[ann]
        if low == "optional":
            self.eat("[")
            inner, ann = self.parse()
            self.eat("]")
            return {"kind": "optional", "inner": inner}, Optional[ann]
        if low == "dict":
            self.eat("[")
            if self.word() != "str":
                raise ValueError("dict keys must be str")
            self.eat(",")
            value, ann = self.parse()
            self.eat("]")
            return {"kind": "dict", "value": value}, dict[str, ann]
        if low in ("enum", "literal"):
            self.eat("[")
            choices = [self.word()]
            while self.peek() == ",":
                self.eat(",")
                choices.append(self.word())
            self.eat("]")
            return {"kind": "literal", "choices": choices}, Literal[tuple(choices)]
        if name in MODELS:
            model = MODELS[name]
            return {"kind": "object", "name": name, "schema": model.model_json_schema()}, model
        raise ValueError(f"unknown type {name!r}")


def split_top(text: str) -> list[str]:
    """Splits on commas outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_side(text: str) -> list[tuple[str, dict, Any]]:
    out = []
    for part in split_top(text):
        if ":" in part:
            name, ty = part.split(":", 1)
            field_type, ann = TypeParser(ty).parse()
        else:
            name, field_type, ann = part, {"kind": "str"}, str
        out.append((name.strip(), field_type, ann))
    return out


# --- Cases --------------------------------------------------------------------

CASES: list[dict[str, Any]] = [
    {
        "name": "basic_qa",
        "about": "one str input, one str output, default instructions, no demos",
        "signature": "question -> answer",
        "inputs": {"question": "What is the capital of France?"},
    },
    {
        "name": "instructions_multiline",
        "about": "indented multi-line instructions (dedent, blank line, trailing newline) and a complete demo",
        "signature": "question -> answer",
        "instructions": "    Answer the question.\n      Be concise.\n\n    Use one word when you can.\n",
        "demos": [{"question": "Largest planet?", "answer": "Jupiter"}],
        "inputs": {"question": "Smallest planet?"},
    },
    {
        "name": "typed_scalars",
        "about": "int, float and bool outputs with descriptions; single-line instructions; two complete demos",
        "signature": "question -> count: int, score: float, is_correct: bool",
        "descs": {"question": "A yes/no arithmetic question", "count": "How many steps it took", "is_correct": "Whether the claim holds"},
        "instructions": "Check the arithmetic claim.",
        "demos": [
            {"question": "Is 2+2=4?", "count": 1, "score": 0.5, "is_correct": True},
            {"question": "Is 3*3=10?", "count": 2, "score": 1.0, "is_correct": False},
        ],
        "inputs": {"question": "Is 10/4=2.5?"},
    },
    {
        "name": "str_field_list_values",
        "about": "str-typed inputs given lists: numbered «» items, multi-line items, a single item, an empty list (N/A)",
        "signature": "question, passages -> answer",
        "demos": [
            {"question": "Who wrote it?", "passages": ["Only one passage here."], "answer": "Nobody"},
            {"question": "Anything?", "passages": [], "answer": "No"},
        ],
        "inputs": {
            "question": "Where is the Eiffel Tower?",
            "passages": [
                "The Eiffel Tower is in Paris.",
                "It was built in 1889.\nIt is 330 m tall.",
                "Quote: «la dame de fer»",
            ],
        },
    },
    {
        "name": "list_str_input",
        "about": "a list[str] input is rendered as JSON (not numbered), with a demo",
        "signature": "question, context: list[str] -> answer",
        "descs": {"context": "Retrieved passages"},
        "demos": [{"question": "Color of the sky?", "context": ["The sky is blue.", "Grass is green."], "answer": "blue"}],
        "inputs": {"question": "Color of grass?", "context": ["Grass is green.", "Snow is \"white\"."]},
    },
    {
        "name": "list_int_output",
        "about": "list[int] input and output plus an int output, instructions, demos",
        "signature": "numbers: list[int] -> sorted_numbers: list[int], total: int",
        "instructions": "Sort the numbers ascending and add them up.",
        "demos": [
            {"numbers": [3, 1, 2], "sorted_numbers": [1, 2, 3], "total": 6},
            {"numbers": [], "sorted_numbers": [], "total": 0},
        ],
        "inputs": {"numbers": [10, -4, 7]},
    },
    {
        "name": "dict_types",
        "about": "dict[str, float] input and dict[str, int] output, float formatting in JSON",
        "signature": "text, weights: dict[str, float] -> word_counts: dict[str, int]",
        "demos": [
            {"text": "a b a", "weights": {"a": 1.0, "b": 0.25}, "word_counts": {"a": 2, "b": 1}},
        ],
        "inputs": {"text": "the cat the hat", "weights": {"the": 1e-05, "cat": 2.5, "hat": 1e16}},
    },
    {
        "name": "optional_fields",
        "about": "optional inputs/outputs, None values, incomplete demos (missing and None fields), a dropped input-only demo",
        "signature": "question, hint: optional[str] -> answer: optional[str], confidence: optional[float]",
        "demos": [
            {"question": "2+2?", "hint": "small", "answer": "4", "confidence": 0.9},
            {"question": "Capital of Peru?", "answer": "Lima"},
            {"question": "Meaning of life?", "hint": None, "answer": None, "confidence": 0.1},
            {"question": "Dropped: no outputs", "hint": "x"},
        ],
        "inputs": {"question": "Who are you?", "hint": None},
    },
    {
        "name": "literal_enum",
        "about": "literal outputs, including a choice with an apostrophe; instructions; demos",
        "signature": "text -> sentiment: enum[positive, negative, neutral], certainty: enum[yes, no, \"don't know\"]",
        "instructions": "Classify the sentiment of the text.",
        "demos": [
            {"text": "I love it", "sentiment": "positive", "certainty": "yes"},
            {"text": "Meh", "sentiment": "neutral", "certainty": "don't know"},
        ],
        "inputs": {"text": "This is terrible."},
    },
    {
        "name": "nested_object",
        "about": "pydantic-model outputs: a top-level object, list[object] and optional[object] ($defs hoisting), object input",
        "signature": "document, known: Address -> person: Person, others: list[Person], home: optional[Address]",
        "descs": {"person": "The main person mentioned"},
        "demos": [
            {
                "document": "Ann (30, ann@x.org) lives at 1 Main St, Springfield.",
                "known": {"street": "1 Main St", "city": "Springfield", "zip_code": None},
                "person": {"name": "Ann", "age": 30, "emails": ["ann@x.org"], "address": {"street": "1 Main St", "city": "Springfield", "zip_code": None}},
                "others": [],
                "home": {"street": "1 Main St", "city": "Springfield", "zip_code": "12345"},
            }
        ],
        "inputs": {"document": "Bob, 41, has no email.", "known": {"street": "2 Side Rd", "city": "Shelbyville", "zip_code": "99999"}},
    },
    {
        "name": "chain_of_thought",
        "about": "dspy.ChainOfThought('question -> answer: int'): reasoning output first, default instructions of the base signature",
        "module": "chain_of_thought",
        "signature": "question -> answer: int",
        "demos": [
            {"question": "What is 3 + 4?", "reasoning": "Three plus four is seven.", "answer": 7},
        ],
        "inputs": {"question": "What is 12 * 3?"},
    },
    {
        "name": "chain_of_thought_instructions",
        "about": "ChainOfThought with instructions, a list[str] input, a literal output and an incomplete demo without reasoning",
        "module": "chain_of_thought",
        "signature": "context: list[str], question -> answer, confidence: enum[low, medium, high]",
        "instructions": "Answer using only the context.",
        "demos": [
            {"context": ["Paris is in France."], "question": "Where is Paris?", "answer": "France", "confidence": "high"},
            {"context": ["Rome is old."], "question": "How old is Rome?", "reasoning": "The context says old, no number.", "answer": "Very old", "confidence": "low"},
        ],
        "inputs": {"context": ["Berlin is the capital of Germany."], "question": "What is the capital of Germany?"},
    },
    {
        "name": "mixed_inputs_multi_output",
        "about": "inputs of every scalar/container type with unicode, quotes, tabs and newlines; several outputs; two demos",
        "signature": "title, year: int, rating: float, available: bool, tags: list[str], meta: dict[str, str] -> summary, keywords: list[str], score: int, is_classic: bool",
        "descs": {"title": "Movie title", "summary": "One sentence", "keywords": "Up to three keywords"},
        "demos": [
            {
                "title": "Amélie", "year": 2001, "rating": 8.3, "available": True,
                "tags": ["romance", "naïve \"charm\""], "meta": {"lang": "fr", "note": "tab\there"},
                "summary": "A shy waitress in Paris helps others.\nThen herself.", "keywords": ["Paris", "café"], "score": 9, "is_classic": True,
            },
            {
                "title": "Film 2", "year": 1999, "rating": 5.0, "available": False,
                "tags": [], "meta": {},
                "summary": "Forgettable.", "keywords": [], "score": 3, "is_classic": False,
            },
        ],
        "inputs": {"title": "東京物語", "year": 1953, "rating": 8.2, "available": False, "tags": ["drama", "family"], "meta": {"director": "小津安二郎"}},
    },
    {
        "name": "field_descriptions",
        "about": "descriptions equal to the default ${name}, multi-line, and trailing whitespace on the last field",
        "signature": "query, doc_text -> relevant: bool, explanation",
        "descs": {"query": "${query}", "doc_text": "The document.\nMay span lines.", "explanation": "Why (one line)   "},
        "inputs": {"query": "rust adapters", "doc_text": "Adapters format prompts."},
    },
    {
        "name": "nested_container_types",
        "about": "nested containers: dict of lists, list[bool], optional[list[str]], list[enum], a single-choice enum",
        "signature": "query -> scores: dict[str, list[float]], flags: list[bool], maybe: optional[list[str]], picks: list[enum[a, b]], only: enum[x]",
        "demos": [
            {"query": "q1", "scores": {"a": [0.1, 2.0]}, "flags": [True, False], "maybe": None, "picks": ["a"], "only": "x"},
        ],
        "inputs": {"query": "q2"},
    },
    {
        "name": "whitespace_values",
        "about": "values with surrounding whitespace, an empty string, and demo values ending in newlines",
        "signature": "first, second -> out",
        "demos": [{"first": "  padded  ", "second": "ends with newline\n", "out": "  both  \n"}],
        "inputs": {"first": "", "second": "  trailing   "},
    },
]


# Completions parsed by DSPy; the Rust test checks Sigil parses them to the same values
# (or, where DSPy fails, that Sigil fails too unless the case is marked `sigil_tolerates`).
PARSE_CASES: list[dict[str, Any]] = [
    {"name": "chat_int", "adapter": "chat", "signature": "question -> answer: int",
     "completion": "[[ ## answer ## ]]\n42\n\n[[ ## completed ## ]]"},
    {"name": "chat_quoted_int", "adapter": "chat", "signature": "question -> answer: int",
     "completion": "[[ ## answer ## ]]\n\"42\"\n[[ ## completed ## ]]\n"},
    {"name": "chat_float_from_int", "adapter": "chat", "signature": "question -> x: float",
     "completion": "[[ ## x ## ]]\n3"},
    {"name": "chat_bools_and_dict", "adapter": "chat", "signature": "q -> flags: list[bool], d: dict[str, int]",
     "completion": "[[ ## flags ## ]]\n[True, false]\n\n[[ ## d ## ]]\n{'a': 1, \"b\": \"2\"}\n\n[[ ## completed ## ]]"},
    {"name": "chat_quoted_literal", "adapter": "chat", "signature": "text -> sentiment: enum[positive, negative]",
     "completion": "[[ ## sentiment ## ]]\n'negative'\n[[ ## completed ## ]]"},
    {"name": "chat_wrapped_literal", "adapter": "chat", "signature": "text -> sentiment: enum[positive, negative]",
     "completion": "[[ ## sentiment ## ]]\nLiteral['positive']"},
    {"name": "chat_reasoning_preamble_duplicates", "adapter": "chat", "signature": "q -> reasoning, answer",
     "completion": "Let me think.\n[[ ## reasoning ## ]]\nFirst line.\n\nSecond line.\n[[ ## unknown ## ]]\nskip\n[[ ## answer ## ]] Paris\n[[ ## answer ## ]]\nLyon\n[[ ## completed ## ]]"},
    {"name": "chat_optional_none_and_missing", "adapter": "chat", "signature": "q -> maybe: optional[int], name: optional[str], n: int",
     "completion": "[[ ## maybe ## ]]\nNone\n\n[[ ## n ## ]]\n5\n\n[[ ## completed ## ]]"},
    {"name": "chat_object", "adapter": "chat", "signature": "doc -> person: Person",
     "completion": "[[ ## person ## ]]\n{\"name\": \"Ann\", \"age\": \"30\", \"emails\": [], \"extra\": 1}\n[[ ## completed ## ]]"},
    {"name": "chat_list_of_objects", "adapter": "chat", "signature": "doc -> people: list[Person]",
     "completion": "[[ ## people ## ]]\n[{'name': 'Bo', 'age': 4, 'emails': ['b@x'], 'address': {'street': 'S', 'city': 'C'}}]"},
    {"name": "chat_bad_int", "adapter": "chat", "signature": "question -> answer: int",
     "completion": "[[ ## answer ## ]]\nforty-two\n[[ ## completed ## ]]"},
    {"name": "chat_missing_field", "adapter": "chat", "signature": "question -> reasoning, answer",
     "completion": "[[ ## reasoning ## ]]\nhmm\n[[ ## completed ## ]]"},
    {"name": "chat_no_headers", "adapter": "chat", "signature": "question -> answer",
     "completion": "Paris"},
    {"name": "chat_bad_literal", "adapter": "chat", "signature": "text -> sentiment: enum[positive, negative]",
     "completion": "[[ ## sentiment ## ]]\nmixed"},
    {"name": "chat_case_insensitive_literal", "adapter": "chat", "signature": "text -> sentiment: enum[positive, negative]",
     "completion": "[[ ## sentiment ## ]]\nPositive", "sigil_tolerates": True},
    {"name": "chat_number_in_prose", "adapter": "chat", "signature": "question -> answer: int",
     "completion": "[[ ## answer ## ]]\nThe answer is 42.", "sigil_tolerates": True},
    {"name": "json_fenced", "adapter": "json", "signature": "question -> answer: int",
     "completion": "```json\n{\"answer\": 42}\n```"},
    {"name": "json_in_prose", "adapter": "json", "signature": "q -> reasoning, answer: int",
     "completion": "Here you go: {\"reasoning\": \"r\", \"answer\": \"7\"} Thanks!"},
    {"name": "json_python_dict_trailing_comma", "adapter": "json", "signature": "text -> sentiment: enum[positive, negative], score: float",
     "completion": "{'sentiment': 'positive', 'score': 1,}"},
    {"name": "json_extra_keys_and_optional", "adapter": "json", "signature": "q -> answer, note: optional[str]",
     "completion": "{\"answer\": \"4\", \"other\": [1, 2]}"},
    {"name": "json_nested_types", "adapter": "json", "signature": "q -> scores: dict[str, list[float]], tags: list[str], ok: bool",
     "completion": "{\"scores\": {\"a\": [1, 2.5]}, \"tags\": [\"x\"], \"ok\": \"false\"}"},
    {"name": "json_object_field", "adapter": "json", "signature": "doc -> person: Person, home: optional[Address]",
     "completion": "{\"person\": {\"name\": \"Cy\", \"age\": 9, \"emails\": [\"c@x\"]}, \"home\": null}"},
    {"name": "json_not_json", "adapter": "json", "signature": "question -> answer",
     "completion": "I cannot answer that."},
    {"name": "json_missing_field", "adapter": "json", "signature": "question -> reasoning, answer",
     "completion": "{\"reasoning\": \"r\"}"},
    {"name": "json_bad_value", "adapter": "json", "signature": "question -> answer: int",
     "completion": "{\"answer\": \"many\"}"},
]


def build(case: dict[str, Any]):
    lhs, rhs = case["signature"].split("->")
    descs = case.get("descs", {})
    dspy_fields: dict[str, Any] = {}
    for side, (fields, maker) in {"input": (parse_side(lhs), dspy.InputField), "output": (parse_side(rhs), dspy.OutputField)}.items():
        for name, _ft, ann in fields:
            kwargs = {"desc": descs[name]} if name in descs else {}
            dspy_fields[name] = (ann, maker(**kwargs))
    sig = dspy.Signature(dspy_fields, case.get("instructions"))
    if case.get("module") == "chain_of_thought":
        sig = dspy.ChainOfThought(sig).predict.signature
    return sig


def field_record(name: str, info, field_type: dict) -> dict:
    extra = info.json_schema_extra or {}
    desc = extra.get("desc")
    rec: dict[str, Any] = {"name": name, "type": field_type}
    if desc is not None and desc != f"${{{name}}}":
        rec["desc"] = desc
    # The prefix never shows in these formats; keep it only for ChainOfThought's reasoning.
    if name == "reasoning":
        rec["prefix"] = "Reasoning: Let's think step by step in order to"
        rec["dspy_prefix"] = extra.get("prefix")
    return rec


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
        inputs = case["inputs"]
        chat = dspy.ChatAdapter().format(sig, demos, inputs)
        jsn = dspy.JSONAdapter().format(sig, demos, inputs)
        for m in chat + jsn:
            assert isinstance(m["content"], str), "only text messages are supported"
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
            "inputs": inputs,
            "chat": [{"role": m["role"], "content": m["content"]} for m in chat],
            "json": [{"role": m["role"], "content": m["content"]} for m in jsn],
        }
        path = OUT_DIR / f"{case['name']}.json"
        path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")

    from dspy.adapters.utils import serialize_for_json
    from dspy.utils.exceptions import AdapterParseError

    parse_records = []
    for case in PARSE_CASES:
        sig = build({"signature": case["signature"]})
        lhs, rhs = case["signature"].split("->")
        adapter = dspy.ChatAdapter() if case["adapter"] == "chat" else dspy.JSONAdapter()
        rec: dict[str, Any] = {
            "name": case["name"],
            "adapter": case["adapter"],
            "signature": case["signature"],
            "input_fields": [field_record(n, f, t) for n, t, _ in parse_side(lhs) for f in [sig.input_fields[n]]],
            "output_fields": [field_record(n, f, t) for n, t, _ in parse_side(rhs) for f in [sig.output_fields[n]]],
            "completion": case["completion"],
            "sigil_tolerates": case.get("sigil_tolerates", False),
        }
        try:
            rec["dspy_result"] = serialize_for_json(adapter.parse(sig, case["completion"]))
            rec["dspy_error"] = None
        except (AdapterParseError, ValueError) as e:
            rec["dspy_result"] = None
            rec["dspy_error"] = type(e).__name__
        parse_records.append(rec)
    parse_dir = OUT_DIR / "parse"
    parse_dir.mkdir(exist_ok=True)
    path = parse_dir / "cases.json"
    doc = {"dspy_version": dspy.__version__, "cases": parse_records}
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
