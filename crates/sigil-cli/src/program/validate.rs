//! Checks a parsed program file before anything runs: module kinds, signatures, where
//! every step input comes from, the metric field, the optimizer's settings.

use std::collections::BTreeSet;

use sigil::signature::Signature;

use super::{ProgramError, ProgramFile};

pub const MODULE_KINDS: &[&str] = &["predict", "chain_of_thought", "retrieve", "react"];
pub const METRIC_KINDS: &[&str] = &["exact_match", "f1", "contains", "judge"];
pub const OPTIMIZER_KINDS: &[&str] = &[
    "labeled_few_shot",
    "bootstrap_few_shot",
    "random_search",
    "copro",
    "mipro_v2",
    "bootstrap_finetune",
    "better_together",
];
/// The optimizers a BetterTogether prompt stage can be.
pub const PROMPT_OPTIMIZER_KINDS: &[&str] = &[
    "labeled_few_shot",
    "bootstrap_few_shot",
    "random_search",
    "copro",
    "mipro_v2",
];
pub const INDEX_KINDS: &[&str] = &["bm25", "dense", "hybrid"];

pub(crate) fn validate(pf: &ProgramFile) -> Result<(), ProgramError> {
    let spec = &pf.spec;
    if spec.name.trim().is_empty() {
        return Err(pf.err_at_line(1, "name", "must not be empty"));
    }
    if let Some(a) = &spec.adapter
        && sigil::adapter::by_name(a.get_ref()).is_none()
    {
        return Err(pf.err(
            a.span(),
            "adapter",
            format!(
                "unknown adapter {:?}; use \"chat\" or \"json\"",
                a.get_ref()
            ),
        ));
    }
    if let Some(m) = &spec.lm.model {
        let id = m.get_ref();
        let ok = id == "local" || id.starts_with("local:") || id.contains('/');
        if !ok {
            return Err(pf.err(
                m.span(),
                "lm.model",
                format!("{id:?} is not a model id; use \"local\", \"local:PATH.gguf\", \"openai/MODEL\" or \"anthropic/MODEL\""),
            ));
        }
    }
    if spec.steps.is_empty() {
        return Err(pf.err_at_line(
            1,
            "step",
            "the program has no steps; add at least one [[step]]",
        ));
    }

    // Fields visible to each step: the program's inputs, then earlier steps' outputs.
    let mut visible: BTreeSet<String> = match &spec.data {
        Some(d) => d.inputs.get_ref().iter().cloned().collect(),
        None => BTreeSet::new(),
    };
    let inputs_known = spec.data.is_some();
    let mut names = BTreeSet::new();
    let mut outputs_all = BTreeSet::new();
    for (i, step) in spec.steps.iter().enumerate() {
        let name = step.name.get_ref();
        let key = |k: &str| format!("step[{i}].{k}");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(pf.err(
                step.name.span(),
                &key("name"),
                "a step name is letters, digits and `_`",
            ));
        }
        if !names.insert(name.clone()) {
            return Err(pf.err(
                step.name.span(),
                &key("name"),
                format!("step name {name:?} is used twice"),
            ));
        }
        let kind = step
            .module
            .as_ref()
            .map(|m| m.get_ref().as_str())
            .unwrap_or("predict");
        if let Some(m) = &step.module
            && !MODULE_KINDS.contains(&kind)
        {
            return Err(pf.err(
                m.span(),
                &key("module"),
                format!(
                    "unknown module {kind:?}; use one of {}",
                    MODULE_KINDS.join(", ")
                ),
            ));
        }
        let (needs, gives): (Vec<String>, Vec<String>) = if kind == "retrieve" {
            let Some(q) = &step.query else {
                return Err(pf.err(
                    step.name.span(),
                    &key("query"),
                    "a retrieve step needs `query` (the field holding the search text)",
                ));
            };
            let Some(c) = &step.corpus else {
                return Err(pf.err(
                    step.name.span(),
                    &key("corpus"),
                    "a retrieve step needs `corpus` (a JSONL file of passages)",
                ));
            };
            if !pf.resolve(c.get_ref()).is_file() {
                return Err(pf.err(
                    c.span(),
                    &key("corpus"),
                    format!("no such file: {}", pf.resolve(c.get_ref()).display()),
                ));
            }
            if let Some(ix) = &step.index
                && !INDEX_KINDS.contains(&ix.get_ref().as_str())
            {
                return Err(pf.err(
                    ix.span(),
                    &key("index"),
                    format!(
                        "unknown index {:?}; use one of {}",
                        ix.get_ref(),
                        INDEX_KINDS.join(", ")
                    ),
                ));
            }
            if step.signature.is_some() {
                return Err(pf.err(
                    step.name.span(),
                    &key("signature"),
                    "a retrieve step has no signature (it takes `query` and gives `output`)",
                ));
            }
            if step.k == Some(0) {
                return Err(pf.err(step.name.span(), &key("k"), "k must be at least 1"));
            }
            let out = step.output.clone().unwrap_or_else(|| "passages".into());
            (vec![q.get_ref().clone()], vec![out])
        } else {
            let Some(sig) = &step.signature else {
                return Err(pf.err(
                    step.name.span(),
                    &key("signature"),
                    "a predict, chain_of_thought or react step needs a `signature`",
                ));
            };
            let parsed = Signature::parse(sig.get_ref())
                .map_err(|e| pf.err(sig.span(), &key("signature"), e.to_string()))?;
            for (field, src) in &step.inputs {
                if !parsed.inputs().iter().any(|f| &f.name == field) {
                    return Err(pf.err(
                        src.span(),
                        &key(&format!("inputs.{field}")),
                        format!("the signature has no input named {field:?}"),
                    ));
                }
            }
            let needs = parsed
                .inputs()
                .iter()
                .map(|f| {
                    step.inputs
                        .get(&f.name)
                        .map(|s| s.get_ref().clone())
                        .unwrap_or_else(|| f.name.clone())
                })
                .collect();
            let mut gives: Vec<String> = parsed.outputs().iter().map(|f| f.name.clone()).collect();
            if kind == "chain_of_thought" {
                gives.insert(0, "reasoning".into());
            }
            if kind == "react" {
                gives.insert(0, "reasoning".into());
                gives.insert(0, "trajectory".into());
                if step.max_iters == Some(0) {
                    return Err(pf.err(
                        step.name.span(),
                        &key("max_iters"),
                        "max_iters must be at least 1",
                    ));
                }
                for (j, m) in step.mcp.iter().enumerate() {
                    let mkey = |k: &str| key(&format!("mcp[{j}].{k}"));
                    match (&m.command, &m.url) {
                        (Some(c), None) if c.get_ref().is_empty() => {
                            return Err(pf.err(
                                c.span(),
                                &mkey("command"),
                                "the command line is empty",
                            ));
                        }
                        (Some(_), None) | (None, Some(_)) => {}
                        _ => {
                            return Err(pf.err(
                                step.name.span(),
                                &mkey("command"),
                                "an MCP server has either `command` (stdio) or `url` (streamable HTTP)",
                            ));
                        }
                    }
                    if m.timeout.is_some_and(|t| !(t > 0.0 && t.is_finite())) {
                        return Err(pf.err(
                            step.name.span(),
                            &mkey("timeout"),
                            "a timeout is a positive number of seconds",
                        ));
                    }
                }
            } else if !step.mcp.is_empty() || step.max_iters.is_some() {
                return Err(pf.err(
                    step.name.span(),
                    &key("mcp"),
                    "`mcp` and `max_iters` belong to react steps",
                ));
            }
            (needs, gives)
        };
        if inputs_known {
            for n in &needs {
                if !visible.contains(n) {
                    let span = step
                        .signature
                        .as_ref()
                        .or(step.query.as_ref())
                        .map(|s| s.span())
                        .unwrap_or_else(|| step.name.span());
                    return Err(pf.err(
                        span,
                        &key("signature"),
                        format!(
                            "input {n:?} comes from nowhere: it is not a program input (data.inputs) nor an output of an earlier step; visible here: {}",
                            visible.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
            }
        }
        for g in gives {
            visible.insert(g.clone());
            outputs_all.insert(g);
        }
    }

    if let Some(d) = &spec.data {
        if d.inputs.get_ref().is_empty() {
            return Err(pf.err(
                d.inputs.span(),
                "data.inputs",
                "name at least one input field",
            ));
        }
        let line = pf.header_line("[data]");
        match (&d.path, &d.train) {
            (Some(p), None) => {
                if d.split.is_none() {
                    return Err(pf.err(
                        p.span(),
                        "data.split",
                        "with `data.path`, give `split = { train = N, val = N, test = N }`",
                    ));
                }
                check_file(pf, p, "data.path")?;
            }
            (None, Some(t)) => {
                check_file(pf, t, "data.train")?;
                let Some(v) = &d.val else {
                    return Err(pf.err_at_line(
                        line,
                        "data.val",
                        "with `data.train`, give `data.val` too (the valset is never the trainset)",
                    ));
                };
                check_file(pf, v, "data.val")?;
                if let Some(t) = &d.test {
                    check_file(pf, t, "data.test")?;
                }
            }
            (Some(p), Some(_)) => {
                return Err(pf.err(
                    p.span(),
                    "data.path",
                    "give either `path` (with `split`) or `train`/`val`/`test`, not both",
                ));
            }
            (None, None) => {
                return Err(pf.err_at_line(
                    line,
                    "data.path",
                    "give `path` (with `split`) or `train` and `val`",
                ));
            }
        }
    }
    if let Some(m) = &spec.metric {
        if !METRIC_KINDS.contains(&m.kind.get_ref().as_str()) {
            return Err(pf.err(
                m.kind.span(),
                "metric.kind",
                format!(
                    "unknown metric {:?}; use one of {}",
                    m.kind.get_ref(),
                    METRIC_KINDS.join(", ")
                ),
            ));
        }
        if !outputs_all.contains(m.field.get_ref()) {
            return Err(pf.err(
                m.field.span(),
                "metric.field",
                format!(
                    "no step outputs {:?}; outputs: {}",
                    m.field.get_ref(),
                    outputs_all.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    if let Some(o) = &spec.optimizer {
        let kind = o.kind.get_ref().as_str();
        if !OPTIMIZER_KINDS.contains(&kind) {
            return Err(pf.err(
                o.kind.span(),
                "optimizer.kind",
                format!(
                    "unknown optimizer {kind:?}; use one of {}",
                    OPTIMIZER_KINDS.join(", ")
                ),
            ));
        }
        if let Some(a) = &o.auto {
            if kind != "mipro_v2" {
                return Err(pf.err(a.span(), "optimizer.auto", "`auto` is a MIPROv2 setting"));
            }
            if !["light", "medium", "heavy"].contains(&a.get_ref().as_str()) {
                return Err(pf.err(
                    a.span(),
                    "optimizer.auto",
                    "use \"light\", \"medium\" or \"heavy\"",
                ));
            }
        }
        let weights = kind == "bootstrap_finetune" || kind == "better_together";
        if let Some(st) = &o.strategy {
            if kind != "better_together" {
                return Err(pf.err(
                    st.span(),
                    "optimizer.strategy",
                    "`strategy` is a better_together setting",
                ));
            }
            let ok = st
                .get_ref()
                .split("->")
                .all(|stage| matches!(stage.trim(), "p" | "w"));
            if !ok {
                return Err(pf.err(
                    st.span(),
                    "optimizer.strategy",
                    "stages are `p` (prompts) and `w` (weights) joined by ` -> `, as \"p -> w -> p\"",
                ));
            }
        }
        if let Some(p) = &o.prompt {
            if kind != "better_together" {
                return Err(pf.err(
                    p.span(),
                    "optimizer.prompt",
                    "`prompt` is a better_together setting",
                ));
            }
            if !PROMPT_OPTIMIZER_KINDS.contains(&p.get_ref().as_str()) {
                return Err(pf.err(
                    p.span(),
                    "optimizer.prompt",
                    format!(
                        "the prompt stage is one of {}",
                        PROMPT_OPTIMIZER_KINDS.join(", ")
                    ),
                ));
            }
        }
        if let Some(f) = &o.finetune {
            if !weights {
                return Err(pf.err(
                    o.kind.span(),
                    "optimizer.finetune",
                    "[optimizer.finetune] is a bootstrap_finetune / better_together setting",
                ));
            }
            if let Some(t) = &f.targets {
                if t.get_ref().is_empty() {
                    return Err(pf.err(
                        t.span(),
                        "optimizer.finetune.targets",
                        "name at least one matrix",
                    ));
                }
                if let Some(bad) = t
                    .get_ref()
                    .iter()
                    .find(|n| sigil_finetune::Target::from_gguf_name(n).is_none())
                {
                    return Err(pf.err(
                        t.span(),
                        "optimizer.finetune.targets",
                        format!(
                            "unknown matrix {bad:?}; use attn_q, attn_k, attn_v, attn_output, ffn_gate, ffn_up or ffn_down"
                        ),
                    ));
                }
            }
            if let Some(d) = &f.data {
                if !["teacher", "labels"].contains(&d.get_ref().as_str()) {
                    return Err(pf.err(
                        d.span(),
                        "optimizer.finetune.data",
                        "use \"teacher\" (the program's accepted runs) or \"labels\" (the trainset's labels)",
                    ));
                }
                if d.get_ref() == "labels" && spec.steps.len() != 1 {
                    return Err(pf.err(
                        d.span(),
                        "optimizer.finetune.data",
                        "training on labels needs a program of one step; use \"teacher\"",
                    ));
                }
            }
            if f.rank == Some(0) || f.epochs == Some(0) || f.batch_size == Some(0) {
                return Err(pf.err(
                    o.kind.span(),
                    "optimizer.finetune",
                    "rank, epochs and batch_size must be at least 1",
                ));
            }
            if f.learning_rate
                .is_some_and(|lr| !(lr > 0.0 && lr.is_finite()))
            {
                return Err(pf.err(
                    o.kind.span(),
                    "optimizer.finetune.learning_rate",
                    "must be a positive number",
                ));
            }
        }
        if weights && let Some(m) = &spec.lm.model {
            let id = m.get_ref();
            if !(id == "local" || id.starts_with("local:") || id.starts_with("openai/")) {
                return Err(pf.err(
                    m.span(),
                    "lm.model",
                    format!(
                        "{kind} trains the embedded model (\"local\") or an \"openai/\" model through its fine-tuning API; {id:?} is neither"
                    ),
                ));
            }
        }
        if spec.metric.is_none() && kind != "labeled_few_shot" {
            return Err(pf.err(o.kind.span(), "metric", "an optimizer needs a [metric]"));
        }
        if spec.data.is_none() {
            return Err(pf.err(o.kind.span(), "data", "an optimizer needs [data]"));
        }
    }
    Ok(())
}

fn check_file(pf: &ProgramFile, p: &toml::Spanned<String>, key: &str) -> Result<(), ProgramError> {
    let resolved = pf.resolve(p.get_ref());
    if resolved.is_file() {
        Ok(())
    } else {
        Err(pf.err(
            p.span(),
            key,
            format!("no such file: {}", resolved.display()),
        ))
    }
}
