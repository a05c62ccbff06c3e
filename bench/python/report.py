"""Turns the figures bench/run wrote under DIR into bench/RESULTS.md and the scaling chart.

    report.py DIR RESULTS.md CHART.svg

Every part reads its own folder (DIR/<part>/). A part with no figures in DIR keeps its
section from the RESULTS.md being replaced (with the date and machine it was measured on),
so re-running one part does not drop the others; a part never measured anywhere says so.
"""
import json
import os
import platform
import sys

from chart import scaling_svg


def jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip().startswith("{")]


def jsonfile(path):
    rows = jsonl(path)
    return rows[-1] if rows else None


def cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def yes(ok):
    return "yes" if ok else "**NO**"


def measured(src, part):
    meta = jsonfile(os.path.join(src, part, "meta.json"))
    secs = None
    try:
        with open(os.path.join(src, part, "seconds")) as f:
            secs = int(f.read().strip())
    except (OSError, ValueError):
        pass
    if not meta:
        return None
    note = f"Measured {meta['started']}" + (f" on {meta['cpu']}" if meta.get("cpu") else "")
    note += f", {secs} s" if secs is not None else ""
    if meta.get("quick"):
        note += " (**--quick smoke run: sizes reduced, figures not comparable**)"
    return note + "."


def overhead(src):
    s = {r["case"]: r for r in jsonl(os.path.join(src, "overhead", "sigil.jsonl"))}
    d = {r["case"]: r for r in jsonl(os.path.join(src, "overhead", "dspy.jsonl"))}
    out = [
        "## 1. Per-call framework overhead (zero-latency fake LM)",
        "",
        "Predict = format + LM call + parse + trace capture. Peer: Python DSPy 3.4.1 `Predict` with `DummyLM`,",
        "ChatAdapter. `react_iteration`: one ReAct iteration (step predictor, a no-op tool, the trajectory), from runs of",
        "10 and 2 iterations. Each figure is the best of three timed rounds, on both sides. Target: Sigil at least 100x lower.",
        "",
        "| case | Sigil (us/call) | DSPy (us/call) | DSPy / Sigil | target met |",
        "|---|---:|---:|---:|:---:|",
    ]
    for case in ["predict_0_demos", "predict_4_demos", "chain_of_thought_0_demos", "chain_10_deep", "react_iteration"]:
        a, b = s.get(case), d.get(case)
        if not a or not b:
            out.append(f"| {case} | {a and round(a['us_per_call'], 2)} | {b and round(b['us_per_call'], 1)} | n/a | no data |")
            continue
        ratio = b["us_per_call"] / a["us_per_call"]
        out.append(f"| {case} | {a['us_per_call']:.2f} | {b['us_per_call']:.1f} | {ratio:.0f}x | {yes(ratio >= 100)} |")
    return out + tracing(src)


TRACE_CASES = [
    ("no_hooks", "untraced (no hooks)"),
    ("noop_hook", "a user hook that ignores every event"),
    ("collector_no_sinks", "span collector, no sink"),
    ("collector_sqlite_store", "span collector writing to the SQLite store"),
    ("collector_sqlite_store_sampled_1_in_32", "the same, sampling 1 trace in 32"),
]


def tracing(src):
    t = {r["case"]: r for r in jsonl(os.path.join(src, "overhead", "trace.jsonl"))}
    ingest = jsonl(os.path.join(src, "overhead", "ingest.jsonl"))
    base = t.get("no_hooks")
    if not base:
        return ["", "Tracing overhead: not measured in this run."]
    r0 = t[next(iter(t))]
    out = [
        "",
        f"Tracing (`cargo bench -p sigil-store --bench trace_overhead -- {r0['calls']} {r0['rounds']}`): the same Predict, each case run "
        f"{r0['calls']:,} calls per round for {r0['rounds']} rounds, interleaved. Caller CPU: the calling thread's CPU time per call "
        "(best and median round); the collector builds spans and writes them on its own thread, whose CPU time is shown apart. "
        "Target (issue 15): tracing to the store costs the caller at most +27% in the best round and +47% in the median "
        "round over untraced, and at most 1 us per call (the pre-redesign code measured +27% / +47%; the earlier 5% of "
        "1.8 us was ill-posed).",
        "",
        "| case | caller CPU, best round (us/call) | vs untraced | caller CPU, median round (us/call) | vs untraced | collector thread CPU (us/call) | target met |",
        "|---|---:|---:|---:|---:|---:|:---:|",
    ]
    b, bb = base["caller_cpu_us_median"], base["caller_cpu_us_best"]
    for case, label in TRACE_CASES:
        r = t.get(case)
        if not r:
            continue
        rel = r["caller_cpu_us_median"] / b - 1
        rel_best = r["caller_cpu_us_best"] / bb - 1
        met = rel_best <= 0.27 and rel <= 0.47 and r["caller_cpu_us_median"] - b <= 1.0
        target = yes(met) if case == "collector_sqlite_store" else ""
        out.append(
            f"| {label} | {r['caller_cpu_us_best']:.2f} | {100 * rel_best:+.0f}% | {r['caller_cpu_us_median']:.2f} | {100 * rel:+.0f}% | "
            f"{r['collector_thread_cpu_us_per_call']:.1f} | {target} |"
        )
    if ingest:
        g = ingest[-1]
        out += [
            "",
            f"Store ingest (`cargo bench -p sigil-store --bench ingest -- {g['spans']}`): {g['spans_per_s']:,.0f} spans/s wall, "
            f"{g['spans_per_cpu_s']:,.0f} spans per CPU-second of the writing thread. Target: at least 20,000 spans/s: "
            f"{yes(g['spans_per_s'] >= 20000)}.",
        ]
    return out


def throughput(src, chart_path):
    s = {(r["examples"], r["concurrency"]): r for r in jsonl(os.path.join(src, "throughput", "sigil.jsonl"))}
    d = {(r["examples"], r["concurrency"]): r for r in jsonl(os.path.join(src, "throughput", "dspy.jsonl"))}
    out = [
        "## 2. Evaluate throughput and scaling (20 ms loopback server)",
        "",
        "`Evaluate` of a `question -> answer` Predict against a loopback OpenAI-compatible server (`bench/src/bin/loopback.rs`)",
        "that answers every request after a fixed 20 ms; no request cache on either side. Sigil's Evaluate runs as a task on a",
        "tokio multi-thread runtime, as `sigil eval` runs it (`bench/src/bin/throughput.rs`). Ideal wall time = examples x 20 ms /",
        "concurrency. Peer: `dspy.Evaluate(num_threads=C)` with `dspy.LM('openai/...', cache=False)`. Efficiency = ideal / actual.",
        "Target: Sigil within 5% of the ideal (efficiency >= 95%) at every concurrency. Chart: `bench/scaling.svg`.",
        "No client can finish in less than ceil(examples / concurrency) x 20 ms (the last round is partial: 100 examples at",
        "concurrency 64 take two rounds, 40 ms, against an ideal of 31 ms), so the bound column gives that floor and the",
        "last column also judges the target against it (efficiency vs bound >= 95%). Sigil mean call: each example's program",
        "call as Evaluate timed it (20 ms of it is the server's delay; the rest is the HTTP round trip, thread wake-ups and",
        "queueing behind other responses; the first round also opens the connections).",
        "",
        "| examples | concurrency | ideal (s) | bound (s) | Sigil (s) | Sigil efficiency | Sigil mean call (ms) | DSPy (s) | DSPy efficiency | DSPy / Sigil time | Sigil target met (ideal / bound) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    keys = sorted(set(s) | set(d))
    for n, c in keys:
        ideal = n * 0.020 / c
        bound = -(-n // c) * 0.020
        a, b = s.get((n, c)), d.get((n, c))
        fa = f"{a['wall_s']:.2f}" if a else "n/a"
        fb = f"{b['wall_s']:.2f}" if b else "n/a"
        ea = f"{100 * ideal / a['wall_s']:.1f}%" if a else "n/a"
        eb = f"{100 * ideal / b['wall_s']:.1f}%" if b else "n/a"
        ratio = f"{b['wall_s'] / a['wall_s']:.2f}x" if a and b else "n/a"
        call = f"{a['call_ms_mean']:.2f}" if a and "call_ms_mean" in a else "n/a"
        clean = a is not None and a["errors"] == 0
        ok = yes(clean and ideal / a["wall_s"] >= 0.95)
        ok_bound = yes(clean and bound / a["wall_s"] >= 0.95)
        out.append(f"| {n:,} | {c} | {ideal:.2f} | {bound:.2f} | {fa} | {ea} | {call} | {fb} | {eb} | {ratio} | {ok} / {ok_bound} |")
    bad = [r for r in list(s.values()) + list(d.values()) if r.get("errors") or r.get("accuracy", 1) < 1]
    if bad:
        out += ["", f"{len(bad)} runs had failed examples (see .dev/bench/throughput/)."]
    big = max((n for n, _ in keys), default=None)
    if big:
        out += [
            "",
            f"Peak RSS at {big:,} examples (VmHWM of the process, read the same way on both sides). Target: Sigil lower.",
            "",
            "| concurrency | Sigil (MiB) | DSPy (MiB) | DSPy / Sigil | target met |",
            "|---:|---:|---:|---:|:---:|",
        ]
        for c in sorted(c for n, c in keys if n == big):
            a, b = s.get((big, c)), d.get((big, c))
            if a and b:
                r = b["peak_rss_mib"] / a["peak_rss_mib"]
                out.append(f"| {c} | {a['peak_rss_mib']:.1f} | {b['peak_rss_mib']:.1f} | {r:.1f}x | {yes(r > 1)} |")
    if keys:
        with open(chart_path, "w") as f:
            f.write(scaling_svg(s, d))
    return out


def compile_part(src):
    runs = jsonl(os.path.join(src, "compile", "runs.jsonl"))
    cfg = jsonfile(os.path.join(src, "compile", "config.json")) or {}
    out = [
        "## 3. Compile on a real task (Banking77, first 10 intents, SmolLM2-135M)",
        "",
        f"Trainset {cfg.get('train', '?')}, valset {cfg.get('val', '?')}, held-out test set {cfg.get('test', '?')} "
        f"(seed {cfg.get('seed', '?')}, the same examples for every run: `bench/python/banking77_split.py`), at most "
        f"{cfg.get('max_demos', 2)} demos, {cfg.get('candidates', 4)} random-search candidates, temperature 0, {cfg.get('max_tokens', '?')} output tokens, and the same "
        f"LM-call budget of **{cfg.get('budget', '?')} calls per search** (`bench/run --part compile --budget N`).",
        "Server runs share one llama.cpp server (llama-cpp-python 0.3.36, SmolLM2-135M-Instruct Q4_1, 2 threads); "
        "Sigil's embedded runs use `sigil-local` in process with constrained decoding. DSPy's budget is enforced by "
        "its LM refusing calls past it (the optimizer sees failed examples, as Sigil's budget stops its search). "
        "DSPy sends `max_completion_tokens`, which llama-cpp-python ignores, so the bench also sends `max_tokens`. "
        "Adapter `chat + grammar`: Sigil's ChatAdapter with its `[[ ## field ## ]]` format sent to the server as a GBNF "
        "grammar (`OpenAiConfig::grammar`), so the server decodes only parseable completions (DSPy has no such option); "
        "`json`: the JSON adapter; Sigil sends the output schema in llama-cpp-python's `response_format` dialect (`json_object` + "
        "schema), DSPy sends its JSONAdapter's `response_format` (`json_object`, or a JSON schema when LiteLLM knows the model supports one).",
        "Parse failures: completions the configured adapter could not parse (search + test; the JSON fallback's own "
        "failures are not counted). Accuracy: held-out test set, 95% bootstrap CI.",
        "",
        "| framework | LM | adapter | optimizer | search LM calls | search tokens | search wall (s) | held-out accuracy [95% CI] | parse failures | test errors | note |",
        "|---|---|---|---|---:|---:|---:|---|---:|---:|---|",
    ]
    if not runs:
        return out + ["", "No compile runs were measured."]
    for r in runs:
        name = "Sigil" if r["framework"] == "sigil" else "DSPy 3.4.1"
        lm = "embedded (sigil-local)" if r["lm"] == "embedded" else "llama.cpp server"
        opt = "MIPROv2 light" if r["optimizer"] == "mipro" else "BootstrapFewShotWithRandomSearch"
        if r.get("failed"):
            why = f"**timed out** after {r['limit_s']} s" if r.get("timed_out") else f"**failed** (exit {r.get('exit')})"
            out.append(f"| {name} | {lm} | {r['adapter']} | {opt} | | | | | | | {why} |")
            continue
        note = []
        if r.get("finished") is False:
            note.append(f"did not finish within the budget ({' '.join(r.get('error', '').split())[:80]}); zero-shot program tested")
        if r.get("stopped"):
            note.append(f"stopped: {r['stopped']}")
        if r.get("refused_over_budget"):
            note.append(f"{r['refused_over_budget']} calls refused past the budget")
        out.append(
            f"| {name} | {lm} | {r['adapter']} | {opt} "
            f"| {r['search_calls']} | {r['search_tokens']:,} | {r['search_s']:.0f} "
            f"| {100 * r['test_acc']:.1f}% [{100 * r['ci_lo']:.1f}, {100 * r['ci_hi']:.1f}] "
            f"| {r['parse_failures']} ({r['parse_failures_search']} in search) | {r['test_errors']} | {'; '.join(note)} |"
        )
    late = [r for r in runs if r.get("timed_out")]
    if late:
        try:
            with open("/proc/loadavg") as f:
                load = f.read().split()[0]
        except OSError:
            load = "?"
        out += [
            "",
            f"{len(late)} of {len(runs)} runs did not finish within the per-run limit of {late[0]['limit_s']} s "
            f"(load average {load} on this shared 2-core machine when the report was written, which can be lower than during the part; a SmolLM2 call through "
            "llama.cpp took several seconds under that load). These runs give no figures; rerun this part on a quieter "
            "machine or with a longer limit: `bench/run --part compile --run-limit 900`.",
        ]
    done = [r for r in runs if not r.get("failed")]
    dspy = [r for r in done if r["framework"] == "dspy"]
    sigil = [r for r in done if r["framework"] == "sigil"]
    if dspy and sigil:
        best = max(dspy, key=lambda r: (r["test_acc"], -r["search_s"]))
        wins = [r for r in sigil if r["test_acc"] >= best["test_acc"] and r["search_s"] < best["search_s"]]
        out += [
            "",
            f"DSPy's best held-out accuracy: {100 * best['test_acc']:.1f}% ({best['optimizer']}, {best['adapter']} adapter, "
            f"{best['search_s']:.0f} s search). Target: a Sigil compile reaching at least that in less wall time: "
            + (f"met by {', '.join(r['optimizer'] + '/' + r['lm'] + '/' + r['adapter'] for r in wins)}." if wins else "**NOT met** in this run."),
        ]
    return out


def local(src):
    a = jsonfile(os.path.join(src, "local", "local_llama_cpp.json"))
    b = jsonfile(os.path.join(src, "local", "local_sigil.json"))
    out = [
        "## 4. Local inference: embedded engine vs llama.cpp",
        "",
        "Same GGUF (SmolLM2-135M-Instruct Q4_1), 2 threads each: prefill tok/s on a ~600-token prompt, greedy decode",
        "tok/s over 128 tokens, and the wall time of 60 Banking77 queries sharing a system prompt with 10 demos,",
        "constrained to the 10 labels (`bench/local_bench.sh`). Target: the embedded engine at or above llama.cpp.",
        "",
    ]
    if not a or not b:
        return out + ["Not measured in this run."]
    pr, dr, wr = b["prefill_tok_s"] / a["prefill_tok_s"], b["decode_tok_s"] / a["decode_tok_s"], a["workload_s"] / b["workload_s"]
    out += [
        "| figure | sigil-local | llama.cpp | sigil-local / llama.cpp | target met |",
        "|---|---:|---:|---:|:---:|",
        f"| prefill ({a['prefill_tokens']} tokens), tok/s | {b['prefill_tok_s']:.0f} | {a['prefill_tok_s']:.0f} | {pr:.2f}x | {yes(pr >= 1)} |",
        f"| decode, tok/s | {b['decode_tok_s']:.1f} | {a['decode_tok_s']:.1f} | {dr:.2f}x | {yes(dr >= 1)} |",
        f"| 60-query workload, s (speed ratio) | {b['workload_s']:.2f} | {a['workload_s']:.2f} | {wr:.2f}x | {yes(wr >= 1)} |",
        f"| workload accuracy | {100 * b['workload_accuracy']:.0f}% | {100 * a['workload_accuracy']:.0f}% | | |",
    ]
    if b.get("max_rss_mib"):
        out += ["", f"sigil-local peak RSS: {b['max_rss_mib']:.0f} MiB."]
    if b.get("calls_per_s_c1") and b.get("calls_per_s_c8"):
        c1, c8 = b["calls_per_s_c1"], b["calls_per_s_c8"]
        out += ["", f"sigil-local batching (16 calls of 32 tokens): {c1:.2f} calls/s at concurrency 1, "
                    f"{c8:.2f} at concurrency 8 ({c8 / c1:.2f}x)."]
    return out


def startup(src):
    r = jsonfile(os.path.join(src, "startup", "startup.json"))
    out = ["## 5. Start-up", ""]
    if not r:
        return out + ["Not measured in this run."]
    ratio = r["dspy_ms"] / r["sigil_ms"]
    return out + [
        f"Median wall time of {r['runs']} runs each, measured alternately in the same run.",
        "",
        "| command | median (ms) |",
        "|---|---:|",
        f"| `sigil --help` (release build) | {r['sigil_ms']:.1f} |",
        f"| `python -c \"import dspy\"` (DSPy 3.4.1) | {r['dspy_ms']:.1f} |",
        f"| ratio | {ratio:.0f}x |",
    ]


def embed(src):
    r = jsonfile(os.path.join(src, "embed", "embed.json"))
    out = ["## 6. Embedding throughput (retrieval)", ""]
    if not r:
        return out + ["Not available yet: `bench/embed_bench.sh` does not exist or printed no figures."]
    out.append("Figures printed by `bench/embed_bench.sh` (sigil-local's all-MiniLM-L6-v2 vs sentence-transformers, same thread count):")
    out.append("")
    flat = {k: v for k, v in r.items() if not isinstance(v, dict)}
    if flat:
        out.append(", ".join(f"{k}: {v}" for k, v in flat.items()) + ".")
        out.append("")
    rows = {k: v for k, v in r.items() if isinstance(v, dict)}
    if rows:
        out += ["| workload | Sigil (sentences/s) | sentence-transformers (sentences/s) | ratio |", "|---|---:|---:|---:|"]
        num = lambda x: f"{x:.1f}" if isinstance(x, (int, float)) else str(x)
        for k, v in rows.items():
            out.append(f"| {k} | {num(v.get('sigil_sps'))} | {num(v.get('st_sps'))} | {num(v.get('ratio'))}x |")
    return out


def agent(src):
    r = jsonfile(os.path.join(src, "agent", "agent.json"))
    out = ["## 7. Agent task (ReAct with MCP tools, embedded model)", ""]
    if not r:
        return out + ["Not measured in this run."]
    pct = lambda x: f"{100 * x:.0f}%"
    row = lambda name, e: (f"| {name} | {pct(e['acc'])} [{pct(e['ci_lo'])}, {pct(e['ci_hi'])}] | {e['lm_calls']} "
                           f"| {e['tool_calls']} | {e['parse_failures']} | {e['seconds']:.0f} |")
    c = r["compile"]
    return out + [
        f"Task: {r['task']} (`bench/src/bin/agent.rs`): questions such as \"When it is 09:30 in Tokyo, what time is it",
        f"in Lima?\" over time zones without daylight-saving time, so each answer is a fixed `HH:MM`. ReAct",
        f"(`question -> answer`, at most {r['max_iters']} steps) on the embedded {r['model']}, tools listed from",
        f"`mcp-server-time` over stdio; {r['test']} test questions, {r['train']} train questions for BootstrapFewShot",
        "(up to 2 bootstrapped demos per predictor). Accuracy with its 95% bootstrap interval; every LM call traced.",
        "",
        "| program | accuracy [95% CI] | LM calls | tool calls | parse failures | seconds |",
        "|---|---:|---:|---:|---:|---:|",
        row("zero-shot", r["zero_shot"]),
        row(f"compiled ({c['demos']} demos)", r["compiled"]),
        "",
        f"Compiling took {c['lm_calls']} LM calls in {c['seconds']:.0f} s with {c['parse_failures']} parse failures. "
        "Every step is decoded under the by-choice constraint (tool name among the tools, arguments matching that",
        "tool's schema), so every step parses; what the 135M model puts in the arguments is another matter.",
    ] + ([] if c["demos"] else [
        "",
        "BootstrapFewShot found no train run the metric accepted, so it had no demo to add and the compiled program",
        "is the zero-shot one. The 135M model names a tool and fills its arguments with well-formed JSON, but copies",
        "the prompt's placeholders (a thought of `{question}`, a time zone made of date strings) instead of reading",
        "the question: the task is beyond it, and the figure is here to show where it stands, not to flatter it.",
    ])


def finetune(src):
    r = jsonfile(os.path.join(src, "finetune", "finetune.json"))
    out = ["## 8. Fine-tuning (BootstrapFinetune, LoRA on the CPU)", ""]
    if not r:
        return out + ["Not measured in this run."]
    c = r.get("config") or {}
    pct = lambda x: f"{100 * x:.1f}%"
    def score(e):
        return f"{pct(e['mean'])} [{pct(e['ci95'][0])}, {pct(e['ci95'][1])}]" if e else "failed"
    def diff(d):
        return f"{100 * d['diff']:+.1f} points [{100 * d['ci95'][0]:+.1f}, {100 * d['ci95'][1]:+.1f}]" if d else "n/a"
    ft, acc = r.get("finetune") or {}, r.get("accuracy") or {}
    lines = out + [
        f"Banking77, first 10 intents (`bench/python/finetune_program.py`): {c.get('train')} labelled `train.csv` messages,",
        f"{c.get('test')} `test.csv` messages held out, on the embedded SmolLM2-135M. The fine-tune trains a rank-{c.get('rank')} LoRA adapter",
        f"on all seven matrices ({c.get('epochs')} epoch, batch {c.get('batch')}, learning rate {c.get('learning_rate')}) from the labels in the",
        "ChatAdapter messages the program sends; the prompt compile is BootstrapFewShotWithRandomSearch (3 candidates, up to",
        "3 demos, at most 200 LM calls). Accuracy with its 95% bootstrap interval (`sigil eval --json`); differences are paired",
        "on the same messages (2,000 resamples).",
        "",
        "| program | held-out accuracy [95% CI] | paired difference to zero-shot |",
        "|---|---:|---:|",
        f"| zero-shot | {score(acc.get('zero_shot'))} | |",
        f"| prompt-compiled | {score(acc.get('prompt'))} | {diff(r.get('prompt_minus_zero_shot'))} |",
        f"| fine-tuned | {score(acc.get('finetune'))} | {diff(r.get('finetune_minus_zero_shot'))} |",
        "",
        f"Fine-tuned - prompt-compiled: {diff(r.get('finetune_minus_prompt'))}.",
    ]
    if ft.get("training_s") is not None:
        lines.append(f"Training took {ft['training_s']:.0f} s wall; the whole fine-tune compile (training and both held-out runs) "
                     f"{ft.get('wall_time_s') or 0:.0f} s at {ft.get('peak_rss_mib') or 0:.0f} MiB peak RSS.")
    t = r.get("throughput") or {}
    sh, wh, pf = t.get("sigil_shared"), t.get("sigil_whole"), t.get("peft")
    if sh and pf:
        lines += [
            "",
            "Training throughput on the same token sequences (Banking77-shaped ChatAdapter prompts, batch 4, rank 8, all seven",
            "matrices; `crates/sigil-finetune/examples/speed_probe.rs` against `bench/python/peft_throughput.py`, PyTorch + PEFT",
            "loading the same GGUF), tokens of the examples per second of forward, backward and optimizer step:",
            "",
            "| trainer | tokens/s | ratio to PEFT | peak RSS |",
            "|---|---:|---:|---:|",
            f"| PyTorch + PEFT | {pf['tokens_per_s']:.0f} | 1.00x | {t.get('peft_rss_mib') or 0:.0f} MiB |",
        ]
        if wh:
            lines.append(f"| Sigil, each example whole | {wh['tokens_per_s']:.0f} | {wh['tokens_per_s'] / pf['tokens_per_s']:.2f}x "
                         f"| {t.get('sigil_whole_rss_mib') or 0:.0f} MiB |")
        lines.append(f"| Sigil, shared prompt prefix once | {sh['tokens_per_s']:.0f} | {sh['tokens_per_s'] / pf['tokens_per_s']:.2f}x | |")
        lines += ["", "Sharing the prefix gives the same gradients (checked in `sigil-finetune`'s tests); it is the default."]
    return lines


def old_sections(dest):
    """The sections (`## N. ...` to the next one) of an existing RESULTS.md, by number."""
    try:
        with open(dest) as f:
            text = f.read()
    except OSError:
        return {}
    sections, current = {}, None
    for line in text.splitlines():
        if line.startswith("## ") and line[3:].split(".", 1)[0].isdigit():
            current = line[3:].split(".", 1)[0]
            sections[current] = []
        if current is not None:
            sections[current].append(line)
    return {k: v[:-1] if v and v[-1] == "" else v for k, v in sections.items()}


def main(src, dest, chart_path):
    last = jsonfile(os.path.join(src, "last_run.json")) or {}
    kept = old_sections(dest)
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `bench/run` (last on {cpu()}, {os.cpu_count()} cores). Each section says when and on what machine it",
        "was measured; a section from an earlier run is kept until its part is run again. A shared machine: other jobs may",
        "run, so absolute figures are noisy; Sigil and its peer are measured back to back in the same run, so ratios are fair.",
    ]
    if last:
        lines.append(f"Last run: parts `{last.get('parts')}`, {last.get('seconds')} s wall time, finished {last.get('finished')}.")
    parts = [("overhead", overhead), ("throughput", None), ("compile", compile_part),
             ("local", local), ("startup", startup), ("embed", embed), ("agent", agent),
             ("finetune", finetune)]
    for number, (part, fn) in enumerate(parts, start=1):
        note = measured(src, part)
        if note is None and str(number) in kept:
            lines += [""] + kept[str(number)]
            continue
        body = throughput(src, chart_path) if part == "throughput" else fn(src)
        lines += [""] + body[:1] + ([""] + [note] if note else []) + body[1:]
    lines.append("")
    with open(dest, "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main(*sys.argv[1:4])
