// Sigil UI: compile runs (score chart, candidates diffed against the baseline, the
// example x candidate grid, spend) and artifacts (one shown, two diffed).
// Uses the helpers of app.js; all data goes in as text.
"use strict";

// ---- diff -------------------------------------------------------------------------

/**
 * Diffs two arrays of strings: [{op: "same"|"add"|"del", text}]. Common prefix and
 * suffix first, then a longest-common-subsequence table over the middle (replaced
 * whole when the table would be too big).
 */
function diffSeq(a, b) {
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) pre++;
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) suf++;
  const am = a.slice(pre, a.length - suf), bm = b.slice(pre, b.length - suf);
  const out = a.slice(0, pre).map((text) => ({ op: "same", text }));
  const n = am.length, m = bm.length;
  if (n * m > 4_000_000) {
    for (const text of am) out.push({ op: "del", text });
    for (const text of bm) out.push({ op: "add", text });
  } else {
    const w = m + 1;
    const t = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        t[i * w + j] = am[i] === bm[j] ? t[(i + 1) * w + j + 1] + 1 : Math.max(t[(i + 1) * w + j], t[i * w + j + 1]);
      }
    }
    let i = 0, j = 0;
    while (i < n && j < m) {
      if (am[i] === bm[j]) { out.push({ op: "same", text: am[i] }); i++; j++; }
      else if (t[(i + 1) * w + j] >= t[i * w + j + 1]) out.push({ op: "del", text: am[i++] });
      else out.push({ op: "add", text: bm[j++] });
    }
    while (i < n) out.push({ op: "del", text: am[i++] });
    while (j < m) out.push({ op: "add", text: bm[j++] });
  }
  for (const text of a.slice(a.length - suf)) out.push({ op: "same", text });
  return out;
}

/** Word-level diff of two texts, as inline ins/del elements. */
function wordDiff(before, after) {
  const split = (s) => (s || "").split(/(\s+)/).filter((x) => x !== "");
  return h("div", { class: "word-diff text" }, diffSeq(split(before), split(after)).map((d) =>
    d.op === "same" ? d.text : h(d.op === "add" ? "ins" : "del", {}, d.text)));
}

/** Line-level diff of two texts, as a table of -/+ lines. */
function lineDiff(before, after) {
  const rows = diffSeq(before.split("\n"), after.split("\n"));
  const changed = rows.filter((r) => r.op !== "same").length;
  return [h("p", { class: "muted", id: "diff-stats" }, `${rows.filter((r) => r.op === "del").length} lines removed, ${rows.filter((r) => r.op === "add").length} added`),
    changed === 0 ? h("p", {}, "The files are identical.") : "",
    h("pre", { class: "line-diff text" }, rows.map((r) => h("div", { class: `line ${r.op}` }, r.op === "add" ? "+ " : r.op === "del" ? "- " : "  ", r.text)))];
}

// ---- compile runs list --------------------------------------------------------------

views.compile = async (route) => {
  if (route.parts[1]) return compileRunPage(route.parts[1], route.query);
  const runs = await api("/api/compile-runs");
  liveWanted = () => true;
  return [h("h1", {}, "Compile runs"),
    h("table", { id: "runs-table", class: "grid-table" },
      h("thead", {}, h("tr", {}, ["Started (UTC)", "Program", "Optimizer", "Status", "Trials", "Best score", "LM calls", "Spend", "Duration"].map((c) => h("th", {}, c)))),
      h("tbody", {}, runs.length ? runs.map((r) => h("tr", { class: "run-row", "data-trace": r.trace_id, onclick: () => { location.hash = `#/compile/${r.trace_id}`; } },
        h("td", { class: "nowrap" }, fmtTime(r.start_epoch_ms)),
        h("td", {}, h("a", { href: `#/compile/${r.trace_id}` }, r.program || "(running)")),
        h("td", {}, r.optimizer || ""),
        h("td", {}, r.running ? h("span", { class: "badge running" }, "running") : statusBadge(r.status)),
        h("td", { class: "num" }, r.trials),
        h("td", { class: "num" }, fmtScore(r.best_score)),
        h("td", { class: "num" }, fmtInt(r.lm_calls)),
        h("td", { class: "num" }, fmtCost(r.cost_usd)),
        h("td", { class: "num" }, fmtMs(r.duration_ms))))
        : h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No compile runs in the store yet."))))];
};

// ---- one compile run ------------------------------------------------------------------

function scoreChart(trials) {
  const W = 720, H = 260, L = 48, R = 16, T = 16, B = 36;
  const scored = trials.filter((t) => t.score !== null && t.score !== undefined);
  const xs = trials.map((t) => t.index);
  const ys = scored.map((t) => t.score).concat(trials.map((t) => t.best_so_far).filter((v) => v !== null && v !== undefined));
  let lo = Math.min(0, ...ys), hi = Math.max(1, ...ys);
  if (hi === lo) hi = lo + 1;
  const x0 = Math.min(...xs, 1), x1 = Math.max(...xs, x0 + 1);
  const px = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y) => T + (1 - (y - lo) / (hi - lo)) * (H - T - B);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => lo + f * (hi - lo));
  let best = "";
  trials.filter((t) => t.best_so_far !== null && t.best_so_far !== undefined).forEach((t, i) => {
    const x = px(t.index).toFixed(1), y = py(t.best_so_far).toFixed(1);
    best += i === 0 ? `M${x} ${y} ` : `H${x} V${y} `;
  });
  return svg("svg", { id: "score-chart", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "trial scores" },
    ticks.map((v) => [svg("line", { x1: L, x2: W - R, y1: py(v), y2: py(v), class: "gridline" }),
      svg("text", { x: L - 6, y: py(v) + 4, "text-anchor": "end", class: "axis" }, v.toFixed(2))]),
    svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", class: "axis" }, "trial"),
    trials.map((t) => svg("text", { x: px(t.index), y: H - B + 16, "text-anchor": "middle", class: "axis" }, String(t.index))),
    svg("path", { d: best, class: "best-line", id: "best-line" }),
    scored.map((t) => svg("circle", { cx: px(t.index), cy: py(t.score), r: 5,
      class: `point ${t.kind === "minibatch" ? "minibatch" : "full"}`, "data-trial": t.index },
      svg("title", {}, `trial ${t.index} (${t.label}): ${fmtScore(t.score)}`))));
}

// The training loss by epoch of a weight optimizer's fine-tuning jobs: one line per job.
function lossChart(points) {
  const W = 720, H = 220, L = 56, R = 16, T = 16, B = 36;
  const scored = points.filter((p) => p.loss !== null && p.loss !== undefined);
  const xs = points.map((_, i) => i + 1);
  let lo = Math.min(...scored.map((p) => p.loss)), hi = Math.max(...scored.map((p) => p.loss));
  lo = Math.min(0, lo);
  if (!(hi > lo)) hi = lo + 1;
  const x1 = Math.max(...xs, 2);
  const px = (x) => L + ((x - 1) / (x1 - 1)) * (W - L - R);
  const py = (y) => T + (1 - (y - lo) / (hi - lo)) * (H - T - B);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => lo + f * (hi - lo));
  const jobs = [...new Set(points.map((p) => p.finetune_span))];
  const lines = jobs.map((job) => {
    let d = "";
    points.forEach((p, i) => {
      if (p.finetune_span !== job || p.loss === null || p.loss === undefined) return;
      d += `${d ? "L" : "M"}${px(i + 1).toFixed(1)} ${py(p.loss).toFixed(1)} `;
    });
    return svg("path", { d, class: "best-line loss-line" });
  });
  return svg("svg", { id: "loss-chart", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "training loss by epoch" },
    ticks.map((v) => [svg("line", { x1: L, x2: W - R, y1: py(v), y2: py(v), class: "gridline" }),
      svg("text", { x: L - 6, y: py(v) + 4, "text-anchor": "end", class: "axis" }, v.toFixed(3))]),
    svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", class: "axis" }, "epoch"),
    points.map((p, i) => svg("text", { x: px(i + 1), y: H - B + 16, "text-anchor": "middle", class: "axis" }, String(p.epoch))),
    lines,
    scored.map((p) => svg("circle", { cx: px(points.indexOf(p) + 1), cy: py(p.loss), r: 5, class: "point full loss-point", "data-epoch": p.epoch },
      svg("title", {}, `epoch ${p.epoch}: loss ${p.loss.toFixed(4)}${p.tokens_per_s ? `, ${Math.round(p.tokens_per_s)} tokens/s` : ""}`))));
}

function candidateDiff(trial, baseline) {
  const base = new Map((baseline ? baseline.predictors : []).map((p) => [p.path, p]));
  const paths = [...new Set([...base.keys(), ...trial.predictors.map((p) => p.path)])];
  const mine = new Map(trial.predictors.map((p) => [p.path, p]));
  return h("div", { id: "candidate-diff", class: "candidate-diff" },
    h("h3", {}, `Trial ${trial.index}: ${trial.label}`, baseline && baseline !== trial ? ` vs baseline (trial ${baseline.index}: ${baseline.label})` : " (the baseline)"),
    paths.length === 0 ? h("p", { class: "muted" }, "This candidate records no per-predictor choices.") : "",
    paths.map((path) => {
      const b = base.get(path) || { instruction: null, demo_ids: [] };
      const c = mine.get(path) || { instruction: null, demo_ids: [] };
      const own = "(the program's own instruction)";
      const bi = b.instruction ?? own, ci = c.instruction ?? own;
      const bset = new Set(b.demo_ids), cset = new Set(c.demo_ids);
      const added = c.demo_ids.filter((d) => !bset.has(d)), removed = b.demo_ids.filter((d) => !cset.has(d));
      const kept = c.demo_ids.filter((d) => bset.has(d));
      return h("div", { class: "predictor-diff", "data-path": path },
        h("h4", {}, path),
        h("div", { class: "label" }, "Instruction", bi === ci ? h("span", { class: "muted" }, " (unchanged)") : ""),
        bi === ci ? h("div", { class: "text" }, ci) : wordDiff(bi, ci),
        h("div", { class: "label" }, `Demos: ${c.demo_ids.length} (${added.length} added, ${removed.length} removed, ${kept.length} kept)`),
        h("ul", { class: "demo-list" },
          added.map((d) => h("li", { class: "add" }, "+ ", d)),
          removed.map((d) => h("li", { class: "del" }, "− ", d)),
          kept.map((d) => h("li", { class: "same" }, "  ", d))));
    }));
}

function scoreGrid(run) {
  const g = run.grid;
  if (!g.examples.length) return h("p", { class: "muted", id: "score-grid" }, "No per-example calls recorded under the trials.");
  const head = h("tr", {}, h("th", {}, "Example"), run.trials.map((t) => h("th", { class: "num", title: t.label }, `#${t.index}`)));
  return h("div", { class: "scroll" }, h("table", { id: "score-grid", class: "score-grid" },
    h("thead", {}, head, h("tr", { class: "score-row" }, h("th", {}, "trial score"), run.trials.map((t) => h("th", { class: "num" }, fmtScore(t.score))))),
    h("tbody", {}, g.examples.map((row) => h("tr", {},
      h("td", { class: "example", title: row.example }, short(inputsText(row.example), 80)),
      row.cells.map((c, i) => c === null
        ? h("td", { class: "cell empty", title: "not run in this trial" }, "")
        : h("td", { class: `cell ${c.status}${c.score == null ? "" : c.score > 0 ? " pass" : " fail"}`,
          title: `${run.trials[i].label}: ${c.score == null ? "" : `score ${fmtScore(c.score)}, `}${c.outputs || c.status}`,
          onclick: () => { location.hash = `#/trace/${run.trace_id}/${c.span_id}`; } },
          c.score == null ? "" : h("b", { class: "cell-score" }, fmtScore(c.score)), " ",
          short(outputsText(c.outputs), 24) || c.status))))),
    g.more_examples ? h("caption", {}, `${g.more_examples} more examples not shown`) : ""));
}

function inputsText(json) {
  const v = parseJson(json);
  if (v && typeof v === "object" && !Array.isArray(v)) return Object.values(v).map((x) => (typeof x === "string" ? x : JSON.stringify(x))).join(" · ");
  return typeof v === "string" ? v : JSON.stringify(v);
}
function outputsText(json) {
  if (!json) return "";
  const v = parseJson(json);
  if (v && typeof v === "object" && !Array.isArray(v)) {
    const vals = Object.entries(v).filter(([k]) => k !== "reasoning").map(([, x]) => (typeof x === "string" ? x : JSON.stringify(x)));
    return vals.join(" · ");
  }
  return typeof v === "string" ? v : JSON.stringify(v);
}

async function compileRunPage(traceId, query) {
  const run = await api(`/api/compile-runs/${encodeURIComponent(traceId)}`);
  liveWanted = () => run.running;
  const baseline = run.trials[0] || null;
  const chosen = run.trials.find((t) => String(t.index) === query.get("trial")) || run.trials[run.trials.length - 1];
  const s = run.spend;
  const header = h("div", { class: "summary" },
    h("h1", {}, `Compile run: ${run.program || "?"}`, " ", run.running ? h("span", { class: "badge running", id: "run-status" }, "running") : h("span", { id: "run-status" }, statusBadge(run.status))),
    h("p", { class: "muted" }, `${run.optimizer || "optimizer not known yet"} · trace ${run.trace_id} · started ${fmtTime(run.start_epoch_ms)} UTC · ${fmtMs(run.duration_ms)}`,
      run.trainset !== null ? ` · trainset ${run.trainset}` : "", run.valset !== null ? ` · valset ${run.valset}` : "",
      run.seed !== null ? ` · seed ${run.seed}` : ""),
    run.error ? errorBox(run.error) : "",
    h("div", { class: "cards" },
      h("div", { class: "card", id: "best-score" }, h("div", { class: "label" }, "best score"), h("div", { class: "value" }, fmtScore(run.best_score))),
      h("div", { class: "card" }, h("div", { class: "label" }, "baseline"), h("div", { class: "value" }, fmtScore(run.baseline_score ?? (baseline && baseline.score)))),
      h("div", { class: "card", id: "trial-count" }, h("div", { class: "label" }, "trials"), h("div", { class: "value" }, run.planned_trials ? `${run.trials.length} / ${run.planned_trials}` : `${run.trials.length}`)),
      h("div", { class: "card", id: "spend" }, h("div", { class: "label" }, run.running ? "spend so far" : "spend"),
        h("div", { class: "value" }, fmtCost(s.cost_usd)),
        h("div", { class: "muted small" }, `${fmtInt(s.lm_calls)} LM calls · ${fmtInt(s.input_tokens)} in · ${fmtInt(s.output_tokens)} out`, s.cache_hits !== null ? ` · ${fmtInt(s.cache_hits)} cache hits` : ""))));
  const table = h("table", { id: "trials-table", class: "grid-table" },
    h("thead", {}, h("tr", {}, ["Trial", "Candidate", "Kind", "Score", "Best so far", "Examples", "Errors", "LM calls", "Tokens", "Cost", "Duration"].map((c) => h("th", {}, c)))),
    h("tbody", {}, run.trials.map((t) => h("tr", { class: `trial-row${chosen === t ? " selected" : ""}`, "data-trial": t.index,
      onclick: () => { location.hash = `#/compile/${traceId}?trial=${t.index}`; } },
      h("td", { class: "num" }, t.index), h("td", {}, t.label, t === baseline ? h("span", { class: "badge" }, "baseline") : "", t.replayed ? h("span", { class: "badge" }, "replayed") : ""),
      h("td", {}, t.kind || ""), h("td", { class: "num" }, t.status === "ok" ? fmtScore(t.score) : statusBadge(t.status)),
      h("td", { class: "num" }, fmtScore(t.best_so_far)), h("td", { class: "num" }, fmtInt(t.examples)), h("td", { class: "num" }, fmtInt(t.errors)),
      h("td", { class: "num" }, fmtInt(t.lm_calls)), h("td", { class: "num" }, `${fmtInt(t.input_tokens)} / ${fmtInt(t.output_tokens)}`),
      h("td", { class: "num" }, fmtCost(t.cost_usd)), h("td", { class: "num" }, fmtMs(t.duration_ms))))));
  const losses = run.loss_curve || [];
  return [header,
    losses.length ? [h("h2", {}, "Training loss"), h("div", { class: "chart-legend muted small", id: "loss-legend" },
      `${losses.length} epoch${losses.length === 1 ? "" : "s"} · last loss ${losses[losses.length - 1].loss?.toFixed(4) ?? "?"}`), lossChart(losses)] : "",
    h("h2", {}, "Scores by trial"), h("div", { class: "chart-legend muted small" }, "● full valset  ○ minibatch  — best so far"), scoreChart(run.trials),
    h("h2", {}, "Candidates"), table,
    chosen ? candidateDiff(chosen, baseline) : "",
    h("h2", {}, "Examples × candidates"), h("p", { class: "muted small" }, "Each cell is that example's program call in that trial: the metric's score (green passing, red failing) and the output. Click a cell for its span tree."),
    scoreGrid(run),
    h("p", {}, h("a", { href: `#/trace/${traceId}`, id: "open-run-trace" }, "Open the whole run as a trace →"))];
}

// ---- artifacts --------------------------------------------------------------------------

views.artifacts = async (route) => {
  const q = route.query;
  const list = await api("/api/artifacts");
  liveWanted = () => false;
  const names = list.files.map((f) => f.name);
  const a = q.get("a") || "", b = q.get("b") || "";
  const pick = (name, value, label) => h("label", {}, label, " ", h("select", { name, id: `artifact-${name}` },
    h("option", { value: "" }, name === "b" ? "(none: show A)" : "(choose)"), names.map((n) => h("option", { value: n, selected: n === value }, n))));
  const form = h("form", { class: "filters", id: "artifact-form", onsubmit: (ev) => {
    ev.preventDefault();
    const d = new FormData(ev.target);
    const p = new URLSearchParams();
    if (d.get("a")) p.set("a", d.get("a"));
    if (d.get("b")) p.set("b", d.get("b"));
    location.hash = `#/artifacts?${p}`;
  } }, pick("a", a, "A"), pick("b", b, "B"), h("button", { type: "submit", id: "artifact-go" }, b ? "Diff" : "Show"));
  const out = [h("h1", {}, "Artifacts"), h("p", { class: "muted" }, list.exists ? `${names.length} in ${list.dir}` : `${list.dir} does not exist (pass --artifacts DIR)`),
    h("ul", { id: "artifact-list" }, list.files.map((f) => h("li", {}, h("a", { href: `#/artifacts?a=${encodeURIComponent(f.name)}` }, f.name), h("span", { class: "muted small" }, ` ${fmtInt(f.bytes)} bytes · ${fmtTime(f.modified_epoch_ms)}`)))),
    form];
  const loadNote = (f) => f.load_error ? h("div", { class: "error-box load-error" }, f.load_error) : "";
  if (a && b) {
    const d = await api(`/api/artifact-diff?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
    out.push(h("h2", {}, `${a} → ${b}`), loadNote(d.a), loadNote(d.b),
      d.summary !== null ? [h("h3", {}, d.prompts_identical ? "Compared (prompts identical)" : "Compared"), h("pre", { class: "text", id: "artifact-compare" }, d.summary)] : "",
      h("h3", {}, "Line by line"), h("div", { id: "artifact-diff" }, lineDiff(d.a.text, d.b.text)));
  } else if (a) {
    const f = await api(`/api/artifact?name=${encodeURIComponent(a)}`);
    out.push(h("h2", {}, a), loadNote(f),
      f.rendered !== null ? [h("h3", {}, "As sigil show prints it"), h("pre", { class: "text", id: "artifact-rendered" }, f.rendered)] : "",
      h("h3", {}, "File"), h("pre", { class: "text", id: "artifact-text" }, f.text));
  }
  return out;
};
