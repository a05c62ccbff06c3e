// Sigil UI: helpers, the router, live updates, the traces list and the trace page.
// Every piece of data is put into the page as text (textContent), never as HTML:
// LM completions may hold markup, and it must show as the characters it is.
"use strict";

// ---- helpers -------------------------------------------------------------------

/** Makes an element: h("td", {class: "x"}, "text", childElement, ...). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  appendAll(el, children);
  return el;
}

function appendAll(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** SVG element with attributes. */
function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  }
  appendAll(el, children);
  return el;
}

class HttpError extends Error {}

async function api(path) {
  const res = await fetch(path, { headers: { Accept: "application/json" } });
  let body = null;
  try { body = await res.json(); } catch (_) { body = null; }
  if (!res.ok) throw new HttpError((body && body.error) || `${res.status} ${res.statusText}`);
  return body;
}

function fmtMs(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 1)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}
function fmtScore(s) { return s === null || s === undefined ? "–" : Number(s).toFixed(3); }
function fmtCost(c) { return c ? `$${Number(c).toFixed(c < 0.01 ? 6 : 4)}` : "$0"; }
function fmtInt(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }
function fmtTime(epochMs) {
  if (!epochMs) return "";
  const d = new Date(epochMs);
  return d.toISOString().replace("T", " ").slice(0, 19);
}
function nsToMs(ns) { return Number(ns) / 1e6; }

/** Parses JSON text stored in an attribute; the text itself when it is not JSON. */
function parseJson(text) {
  if (typeof text !== "string") return text;
  try { return JSON.parse(text); } catch (_) { return text; }
}
function pretty(v) {
  const p = parseJson(v);
  return typeof p === "string" ? p : JSON.stringify(p, null, 2);
}
function short(text, n) {
  const s = typeof text === "string" ? text : JSON.stringify(text);
  return s && s.length > n ? s.slice(0, n - 1) + "…" : s || "";
}

function statusBadge(status) {
  return h("span", { class: `badge status-${status}` }, status);
}
function kindBadge(kind) {
  return h("span", { class: `badge kind-${kind}` }, kind);
}

function setMain(...children) {
  const main = document.getElementById("main");
  const y = window.scrollY;
  main.replaceChildren(...children.flat(Infinity).filter((c) => c !== "" && c !== null && c !== undefined));
  window.scrollTo(0, y);
}
function errorBox(e) {
  return h("div", { class: "error-box", role: "alert" }, String(e && e.message ? e.message : e));
}

// ---- router --------------------------------------------------------------------

/** "#/trace/abc?x=1" -> {parts: ["trace", "abc"], query: URLSearchParams}. */
function currentRoute() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, qs] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(qs || "") };
}

const views = {};
let renderSeq = 0;

async function render(isLiveRefresh) {
  const route = currentRoute();
  const name = route.parts[0] || "traces";
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.id === `nav-${name === "trace" ? "traces" : name}`);
  }
  const view = views[name];
  const seq = ++renderSeq;
  if (!view) { setMain(errorBox(`no page ${name}`)); return; }
  try {
    const nodes = await view(route, isLiveRefresh);
    if (seq !== renderSeq) return; // a newer render started meanwhile
    if (nodes) setMain(nodes);
  } catch (e) {
    if (seq === renderSeq) setMain(errorBox(e));
  }
}

// ---- live updates ----------------------------------------------------------------

/** Whether the page on show wants re-reading when the store changes. */
let liveWanted = () => true;

function startLive() {
  const badge = document.getElementById("live");
  if (!window.EventSource) return;
  const es = new EventSource("/api/live");
  es.addEventListener("open", () => { badge.className = "live on"; });
  es.addEventListener("error", () => { badge.className = "live off"; });
  es.addEventListener("change", () => {
    badge.classList.add("pulse");
    setTimeout(() => badge.classList.remove("pulse"), 600);
    if (liveWanted()) render(true);
  });
}

// ---- traces list -------------------------------------------------------------------

const FILTERS = ["program", "status", "compiled", "kind", "since_minutes", "limit"];

function select(name, value, options) {
  return h("select", { name, id: `filter-${name}` },
    options.map(([v, label]) => h("option", { value: v, selected: v === (value || "") }, label)));
}

views.traces = async (route) => {
  const q = route.query;
  const params = new URLSearchParams();
  for (const f of FILTERS) if (q.get(f)) params.set(f, q.get(f));
  const form = h("form", { id: "trace-filters", class: "filters", onsubmit: (ev) => {
    ev.preventDefault();
    const data = new FormData(ev.target);
    const next = new URLSearchParams();
    for (const f of FILTERS) if (data.get(f)) next.set(f, data.get(f));
    location.hash = `#/traces?${next}`;
  } },
    h("label", {}, "Program ", h("input", { name: "program", id: "filter-program", value: q.get("program") || "", list: "programs", placeholder: "any" })),
    h("label", {}, "Status ", select("status", q.get("status"), [["", "any"], ["ok", "ok"], ["error", "error"], ["cancelled", "cancelled"]])),
    h("label", {}, "Prompts ", select("compiled", q.get("compiled"), [["", "any"], ["compiled", "compiled"], ["uncompiled", "uncompiled"]])),
    h("label", {}, "Root ", select("kind", q.get("kind"), [["", "any"], ["module", "program call"], ["evaluate", "evaluate"], ["compile", "compile"]])),
    h("label", {}, "Since ", select("since_minutes", q.get("since_minutes"), [["", "all time"], ["60", "last hour"], ["1440", "last day"], ["10080", "last week"]])),
    h("button", { type: "submit", id: "filter-apply" }, "Filter"));
  const traces = await api(`/api/traces?${params}`);
  liveWanted = () => true;
  const programs = [...new Set(traces.map((t) => t.program))].sort();
  const rows = traces.map((t) => h("tr", { class: "trace-row", "data-trace": t.trace_id,
    onclick: () => { location.hash = `#/trace/${t.trace_id}`; } },
    h("td", { class: "nowrap" }, fmtTime(nsToMs(t.start_ns))),
    h("td", {}, h("a", { href: `#/trace/${t.trace_id}` }, t.program)),
    h("td", {}, t.root_name, " ", kindBadge(t.root_kind)),
    h("td", { class: "inputs", title: t.inputs || "" }, t.inputs ? short(inputsText(t.inputs), 60) : ""),
    h("td", {}, t.compiled ? h("span", { class: "badge compiled", title: t.artifact_hash || "" }, "compiled") : ""),
    h("td", {}, statusBadge(t.status), t.error ? h("div", { class: "muted small" }, short(t.error, 120)) : ""),
    h("td", { class: "num" }, fmtMs(t.duration_ms)),
    h("td", { class: "num" }, fmtInt(t.lm_calls)),
    h("td", { class: "num" }, `${fmtInt(t.input_tokens)} / ${fmtInt(t.output_tokens)}`),
    h("td", { class: "num" }, fmtCost(t.cost_usd)),
    h("td", { class: "num" }, t.score === null || t.score === undefined ? "" : fmtScore(t.score))));
  return [
    h("h1", {}, "Traces"),
    form,
    h("datalist", { id: "programs" }, programs.map((p) => h("option", { value: p }))),
    h("p", { class: "muted", id: "trace-count" }, `${traces.length} trace${traces.length === 1 ? "" : "s"}`),
    h("table", { id: "traces-table", class: "grid-table" },
      h("thead", {}, h("tr", {}, ["Started (UTC)", "Program", "Root", "Inputs", "", "Status", "Duration", "LM calls", "Tokens in / out", "Cost", "Score"].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 11, class: "muted" }, "No traces match.")))),
  ];
};

// ---- trace page ----------------------------------------------------------------------

/** Depth-first list of [span, depth, parent]. */
function walk(roots) {
  const out = [];
  const stack = roots.slice().reverse().map((s) => [s, 0, null]);
  while (stack.length) {
    const [s, d, p] = stack.pop();
    out.push([s, d, p]);
    for (let i = s.children.length - 1; i >= 0; i--) stack.push([s.children[i], d + 1, s]);
  }
  return out;
}

function spanSummary(s) {
  const a = s.attrs;
  if (s.kind === "lm") {
    const i = a["gen_ai.usage.input_tokens"], o = a["gen_ai.usage.output_tokens"];
    return i !== undefined ? `${i}→${o} tok` : "";
  }
  if (s.kind === "trial") return `score ${fmtScore(a["sigil.trial.score"])}`;
  if (s.kind === "evaluate") return `score ${fmtScore(a["sigil.eval.score"])}`;
  return "";
}

/** Per trace: the ids of folded spans. */
const folds = new Map();

views.trace = async (route) => {
  const traceId = route.parts[1];
  const selected = route.parts[2];
  const t = await api(`/api/traces/${encodeURIComponent(traceId)}`);
  liveWanted = () => !t.complete;
  const all = walk(t.roots);
  const total = Math.max(t.duration_ms, 1e-6);
  const byId = new Map(all.map(([s, , p]) => [s.id, [s, p]]));
  const sel = byId.get(selected) || byId.get((all[0] || [])[0]?.id);
  // Big trees (a compile run) start with the program calls folded, except the
  // path to the selected span; the toggles fold and unfold.
  if (!folds.has(traceId)) {
    const fold = new Set();
    if (all.length > 150) for (const [s, d] of all) if (d >= 2 && s.children.length) fold.add(s.id);
    folds.set(traceId, fold);
  }
  const fold = folds.get(traceId);
  for (let p = sel && byId.get(sel[0].id)[1]; p; p = byId.get(p.id)[1]) fold.delete(p.id);
  const hidden = new Set();
  for (const [s, , p] of all) if (p && (fold.has(p.id) || hidden.has(p.id))) hidden.add(s.id);
  const shown = all.filter(([s]) => !hidden.has(s.id));
  const tree = h("div", { id: "span-tree", class: "span-tree" },
    shown.map(([s, depth]) => {
      const left = (s.start_ms / total) * 100;
      const width = Math.max((s.duration_ms / total) * 100, 0.3);
      const toggle = s.children.length
        ? h("span", { class: "toggle", title: fold.has(s.id) ? `show ${s.children.length} children` : "fold",
          onclick: (ev) => { ev.stopPropagation(); if (fold.has(s.id)) fold.delete(s.id); else fold.add(s.id); render(false); } },
          fold.has(s.id) ? "▸" : "▾")
        : h("span", { class: "toggle" }, "");
      return h("div", {
        class: `span-row${sel && sel[0].id === s.id ? " selected" : ""}`,
        "data-span": s.id, "data-kind": s.kind,
        onclick: () => { location.hash = `#/trace/${traceId}/${s.id}`; },
      },
        h("div", { class: "span-label", style: { paddingLeft: `${depth * 16 + 4}px` } },
          toggle, kindBadge(s.kind), " ", h("span", { class: "span-name" }, s.name),
          s.status !== "ok" ? h("span", { class: "badge status-error" }, s.status) : ""),
        h("div", { class: "span-info num" }, spanSummary(s)),
        h("div", { class: "span-timing" },
          h("div", { class: `bar kind-${s.kind}`, style: { left: `${left}%`, width: `${width}%` }, title: `${fmtMs(s.start_ms)} + ${fmtMs(s.duration_ms)}` })),
        h("div", { class: "span-dur num" }, fmtMs(s.duration_ms)));
    }));
  const sum = t.summary;
  const head = h("div", { class: "summary" },
    h("h1", {}, sum ? `${sum.program}` : "Trace (still being written)", " ", sum ? statusBadge(sum.status) : h("span", { class: "badge running" }, "running")),
    h("p", { class: "muted" }, `trace ${t.trace_id} · started ${fmtTime(t.start_epoch_ms)} UTC · ${fmtMs(t.duration_ms)} · ${t.span_count} spans`),
    sum ? h("p", { id: "trace-usage" }, `${fmtInt(sum.lm_calls)} LM calls · ${fmtInt(sum.input_tokens)} tokens in · ${fmtInt(sum.output_tokens)} out · ${fmtInt(sum.cached_tokens)} cached · ${fmtCost(sum.cost_usd)}`,
      sum.compiled ? ` · compiled (${sum.optimizer || "?"}, ${sum.artifact_hash || "?"})` : " · uncompiled prompts") : "");
  const runLink = all.some(([s]) => s.kind === "compile" || s.kind === "trial")
    ? h("p", {}, h("a", { href: `#/compile/${traceId}`, id: "open-compile-run" }, "Open as a compile run →")) : "";
  return [head, runLink, h("div", { class: "trace-layout" }, tree, h("aside", { id: "span-detail", class: "span-detail" }, sel ? spanDetail(sel[0], sel[1]) : ""))];
};

/** The parse span that read this LM call's completion: its next sibling of kind parse. */
function parseSiblingOf(lm, parent) {
  if (!parent) return null;
  const kids = parent.children;
  const i = kids.findIndex((c) => c.id === lm.id);
  for (let j = i + 1; j < kids.length; j++) {
    if (kids[j].kind === "parse") return kids[j];
    if (kids[j].kind === "lm") break;
  }
  return null;
}

function kv(rows) {
  return h("table", { class: "kv" }, rows.filter((r) => r[1] !== undefined && r[1] !== null && r[1] !== "")
    .map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v))));
}

function messagesView(messages) {
  if (!Array.isArray(messages)) return h("pre", { class: "text" }, pretty(messages));
  return h("div", { class: "messages" }, messages.map((m) => h("div", { class: `message role-${m.role}` },
    h("div", { class: "role" }, m.role), h("pre", { class: "text" }, typeof m.content === "string" ? m.content : JSON.stringify(m.content, null, 2)))));
}

function fieldsView(fields) {
  const f = parseJson(fields);
  if (!f || typeof f !== "object") return h("pre", { class: "text" }, pretty(fields));
  return h("table", { class: "kv", id: "parsed-fields" }, Object.entries(f).map(([k, v]) =>
    h("tr", {}, h("th", {}, k), h("td", {}, h("pre", { class: "text" }, typeof v === "string" ? v : JSON.stringify(v, null, 2))))));
}

/** A ReAct run's steps from its outputs' `trajectory` (thought_i, tool_name_i, ...). */
function trajectoryOf(outputs) {
  const o = parseJson(outputs);
  const t = o && typeof o === "object" ? parseJson(o.trajectory) : null;
  if (!t || typeof t !== "object" || Array.isArray(t)) return null;
  const steps = [];
  for (let i = 0; `thought_${i}` in t; i++) {
    steps.push({ thought: t[`thought_${i}`], tool: t[`tool_name_${i}`], args: t[`tool_args_${i}`], observation: t[`observation_${i}`] });
  }
  return steps;
}

function trajectoryView(steps) {
  const str = (v) => (typeof v === "string" ? v : JSON.stringify(v, null, 2));
  if (!steps.length) return h("p", { class: "muted", id: "trajectory" }, "No tool was called.");
  return h("ol", { class: "trajectory", id: "trajectory" }, steps.map((st, i) => h("li", { class: "trajectory-step" },
    h("div", { class: "muted" }, `step ${i + 1}`),
    h("pre", { class: "text thought" }, str(st.thought)),
    h("div", { class: "tool-call" }, h("code", { class: "tool-name" }, str(st.tool)), " ", h("code", { class: "tool-args" }, str(st.args))),
    h("pre", { class: "text observation" }, str(st.observation)))));
}

function spanDetail(s, parent) {
  const a = s.attrs;
  const parts = [h("h2", {}, kindBadge(s.kind), " ", s.name),
    kv([["status", statusBadge(s.status)], ["error", s.error], ["started", `+${fmtMs(s.start_ms)}`], ["duration", fmtMs(s.duration_ms)], ["span", s.id]])];
  if (s.kind === "lm") {
    const parse = parseSiblingOf(s, parent);
    parts.push(h("section", { id: "lm-detail" },
      h("h3", {}, "Call"),
      kv([["model", a["gen_ai.response.model"] || a["gen_ai.request.model"]],
        ["tokens in", fmtInt(a["gen_ai.usage.input_tokens"])], ["tokens out", fmtInt(a["gen_ai.usage.output_tokens"])],
        ["cached tokens", fmtInt(a["gen_ai.usage.cache_read.input_tokens"])],
        ["cost", fmtCost(a["sigil.lm.cost_usd"])], ["latency", fmtMs(a["sigil.lm.latency_ms"])],
        ["cache hit", a["sigil.lm.cache_hit"] === undefined ? "" : String(a["sigil.lm.cache_hit"])],
        ["retries", a["sigil.lm.retries"]], ["constraint", a["sigil.lm.constraint"]],
        ["temperature", a["gen_ai.request.temperature"]], ["finish", a["gen_ai.response.finish_reasons"]]]),
      h("h3", {}, "Rendered prompt"),
      h("div", { id: "lm-prompt" }, a["gen_ai.input.messages"] ? messagesView(parseJson(a["gen_ai.input.messages"])) : h("p", { class: "muted" }, "Messages were not recorded (SIGIL_TRACE_MESSAGES).")),
      h("h3", {}, "Raw completion"),
      a["sigil.lm.output"] !== undefined ? h("pre", { class: "text", id: "lm-completion" }, a["sigil.lm.output"]) : h("p", { class: "muted" }, "Outputs were not recorded."),
      h("h3", {}, "Parsed fields"),
      parse ? (parse.attrs["sigil.parse.fields"] ? fieldsView(parse.attrs["sigil.parse.fields"])
        : h("pre", { class: "text error-text", id: "parse-error" }, parse.attrs["sigil.parse.error"] || parse.error || "not recorded"))
        : h("p", { class: "muted" }, "No parse step follows this call.")));
  } else {
    const traj = trajectoryOf(a["sigil.outputs"]);
    if (traj) parts.push(h("h3", {}, "Trajectory"), trajectoryView(traj));
    const shown = Object.entries(a);
    parts.push(h("h3", {}, "Attributes"), h("table", { class: "kv attrs" }, shown.map(([k, v]) =>
      h("tr", {}, h("th", {}, k), h("td", {}, typeof v === "string" && /^[[{]/.test(v) ? h("pre", { class: "text" }, pretty(v)) : String(v))))));
  }
  if (s.events.length) {
    parts.push(h("h3", {}, "Events"), h("ul", {}, s.events.map((e) => h("li", {}, `+${fmtMs(e.at_ms)} ${e.name} `, h("code", {}, JSON.stringify(e.attrs))))));
  }
  return parts;
}

// ---- start -------------------------------------------------------------------------

window.addEventListener("hashchange", () => render(false));
window.addEventListener("DOMContentLoaded", () => {
  if (!location.hash) location.replace("#/traces");
  render(false);
  startLive();
});
