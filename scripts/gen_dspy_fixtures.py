"""Saved-program fixtures from real Python DSPy, and a loader for exported files.

Run with the project's DSPy venv (dspy==3.4.1):

    .dev/venv-dspy/bin/python scripts/gen_dspy_fixtures.py
        writes crates/sigil/tests/golden/dspy/<name>.json (what `program.save()` wrote)
        and <name>.messages.json (what DSPy's ChatAdapter renders per predictor for a
        placeholder input) for four programs: `predict` (a bare Predict), `cot` (a
        bare ChainOfThought), `two_step` (a Predict and a ChainOfThought in a
        Module) and `react` (a ReAct with one tool). Instructions, demos, prefixes and descriptions are set by hand: no LM.

    .dev/venv-dspy/bin/python scripts/gen_dspy_fixtures.py load NAME FILE
        builds program NAME, calls `program.load(FILE)` and prints, as JSON, per
        predictor name: its instructions, field prefixes and descriptions, demos and
        the ChatAdapter messages for a placeholder input. The Rust export test
        (crates/sigil/tests/it/artifact_dspy_export_loads_in_dspy.rs) uses this.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import dspy

OUT_DIR = Path(__file__).resolve().parent.parent / "crates" / "sigil" / "tests" / "golden" / "dspy"


class TwoStep(dspy.Module):
    def __init__(self):
        super().__init__()
        self.write_query = dspy.Predict("question -> search_query")
        self.answer = dspy.ChainOfThought("context: list[str], question -> answer")

    def forward(self, question):
        q = self.write_query(question=question).search_query
        return self.answer(context=[q], question=question)


def search(query: str) -> str:
    """Search the web for a query."""
    return ""


def build(name: str) -> dspy.Module:
    if name == "predict":
        return dspy.Predict("question -> answer")
    if name == "cot":
        return dspy.ChainOfThought("question -> answer")
    if name == "two_step":
        return TwoStep()
    if name == "react":
        return dspy.ReAct("question -> answer", tools=[search], max_iters=5)
    raise SystemExit(f"unknown program {name!r} (predict, cot, two_step, react)")


def fill(name: str, program: dspy.Module) -> None:
    """Sets instructions, demos, prefixes and descriptions by hand."""
    if name == "predict":
        p = program
        p.signature = (
            p.signature.with_instructions("Answer the trivia question in a few words.")
            .with_updated_fields("answer", desc="often between 1 and 5 words", prefix="Short Answer:")
        )
        p.demos = [
            dspy.Example(question="What is the capital of France?", answer="Paris"),
            dspy.Example(question="Who wrote Hamlet?", answer="William Shakespeare"),
        ]
    elif name == "cot":
        p = program.predict
        p.signature = p.signature.with_instructions(
            "Think step by step,\nthen give the final number only."
        )
        p.demos = [
            dspy.Example(
                question="What is 12 + 30?",
                reasoning="12 + 30 = 42.",
                answer="42",
                augmented=True,
            ),
            dspy.Example(question="What is 7 * 6?", answer="42"),
        ]
    elif name == "two_step":
        q = program.write_query
        q.signature = q.signature.with_instructions("Write a search query for the question.")
        q.demos = [dspy.Example(question="Where was Ada Lovelace born?", search_query="Ada Lovelace birthplace")]
        a = program.answer.predict
        a.signature = a.signature.with_instructions(
            "Answer from the context only."
        ).with_updated_fields("context", desc="passages that may contain the answer")
        a.demos = [
            dspy.Example(
                context=["Ada Lovelace was born in London in 1815."],
                question="Where was Ada Lovelace born?",
                reasoning="The passage says London.",
                answer="London",
                augmented=True,
            )
        ]


    elif name == "react":
        r = program.react
        r.demos = [
            dspy.Example(
                question="Who wrote Dune?",
                trajectory="",
                next_thought="I should search for the author.",
                next_tool_name="search",
                next_tool_args={"query": "Dune author"},
                augmented=True,
            )
        ]
        e = program.extract.predict
        e.signature = e.signature.with_instructions("Answer in a few words, from the trajectory.")
        e.demos = [
            dspy.Example(
                question="Who wrote Dune?",
                trajectory="[[ ## thought_0 ## ]]\nSearch.\n\n[[ ## observation_0 ## ]]\nFrank Herbert",
                reasoning="The search says Frank Herbert.",
                answer="Frank Herbert",
                augmented=True,
            )
        ]


def describe(program: dspy.Module) -> dict:
    """Per predictor name: instructions, fields, demos and the placeholder prompt."""
    out = {}
    for pname, pred in program.named_predictors():
        sig = pred.signature
        inputs = {k: "{" + k + "}" for k in sig.input_fields}
        messages = dspy.ChatAdapter().format(sig, pred.demos, inputs)
        out[pname] = {
            "instructions": sig.instructions,
            "fields": [
                {
                    "name": k,
                    "prefix": f.json_schema_extra["prefix"],
                    "description": f.json_schema_extra["desc"],
                }
                for k, f in sig.fields.items()
            ],
            "demos": [dict(d) for d in pred.demos],
            "messages": messages,
        }
    return out


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "load":
        program = build(sys.argv[2])
        program.load(sys.argv[3])
        print(json.dumps(describe(program), indent=2, ensure_ascii=False))
        return
    if len(sys.argv) != 1:
        raise SystemExit(__doc__)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name in ["predict", "cot", "two_step", "react"]:
        program = build(name)
        fill(name, program)
        program.save(str(OUT_DIR / f"{name}.json"))
        described = describe(program)
        (OUT_DIR / f"{name}.messages.json").write_text(
            json.dumps({k: v["messages"] for k, v in described.items()}, indent=2, ensure_ascii=False) + "\n"
        )
        print(f"wrote {name}.json and {name}.messages.json")


if __name__ == "__main__":
    main()
