//! The readable text of an artifact (`sigil show`): provenance, then each predictor's
//! signature, demos and rendered messages.

use std::fmt::Write;

use super::format::{Artifact, DatasetInfo, FieldEntry};
use super::run::RunRecord;
use crate::lm::Role;

/// How to print: with ANSI colour on the headers or plain.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShowOptions {
    /// Colour the headers.
    pub color: bool,
}

pub(crate) fn header(opts: ShowOptions, text: &str) -> String {
    if opts.color {
        format!("\x1b[1;36m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

pub(crate) fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

pub(crate) fn ci(c: [f64; 2]) -> String {
    format!("[{}, {}]", pct(c[0]), pct(c[1]))
}

fn dataset(name: &str, d: &Option<DatasetInfo>, out: &mut String) {
    if let Some(d) = d {
        let _ = writeln!(out, "  {name:<9} {} examples, sha256 {}", d.size, d.sha256);
    }
}

pub(crate) fn field_line(f: &FieldEntry) -> String {
    let mut s = format!("{}: {}", f.name, f.ty);
    if let Some(d) = &f.desc {
        let _ = write!(s, "  — {d}");
    }
    if let Some(p) = &f.prefix {
        let _ = write!(s, "  (prefix {p:?})");
    }
    s
}

/// The artifact as text for a terminal, with the run sidecar when there is one.
pub fn show_text(artifact: &Artifact, run: Option<&RunRecord>, opts: ShowOptions) -> String {
    let mut out = String::new();
    let h = |t: &str| header(opts, t);
    let _ = writeln!(
        out,
        "{}",
        h(&format!(
            "Sigil artifact (format {}, written by Sigil {})",
            artifact.format_version, artifact.sigil_version
        ))
    );
    if let Some(name) = &artifact.program_name {
        let _ = writeln!(out, "  program   {name}");
    }
    let _ = writeln!(out, "  adapter   {}", artifact.adapter);
    if let Some(lm) = &artifact.lm {
        let params = serde_json::to_string(&lm.params).unwrap_or_default();
        let _ = writeln!(out, "  model     {}  {params}", lm.model);
    }
    if let Some(imp) = &artifact.imported_from {
        let _ = writeln!(
            out,
            "  imported  from {} {}",
            imp.format,
            imp.version.as_deref().unwrap_or("")
        );
    }
    if let Some(o) = &artifact.optimizer {
        let _ = writeln!(out, "\n{}", h("Optimizer"));
        let _ = writeln!(out, "  {} (seed {})", o.name, o.seed);
        for (k, v) in &o.settings {
            let _ = writeln!(out, "  {k} = {v}");
        }
    }
    for f in &artifact.finetuned {
        let _ = writeln!(out, "\n{}", h(&format!("Fine-tuned model ({})", f.trainer)));
        let paths: Vec<&str> = f
            .paths
            .iter()
            .map(|p| {
                if p.is_empty() {
                    "(program)"
                } else {
                    p.as_str()
                }
            })
            .collect();
        let _ = writeln!(out, "  predictors  {}", paths.join(", "));
        let _ = writeln!(out, "  model       {}", f.model_id);
        let base_hash = f
            .base_model_sha256
            .as_deref()
            .map(|h| format!("  sha256 {h}"))
            .unwrap_or_default();
        let _ = writeln!(out, "  base        {}{base_hash}", f.base_model);
        if let Some(a) = &f.adapter {
            let hash = f.adapter_sha256.as_deref().unwrap_or("-");
            let _ = writeln!(out, "  adapter     {a}  sha256 {hash}");
        }
        if let Some(j) = &f.job_id {
            let _ = writeln!(out, "  job         {j}");
        }
        let settings = serde_json::to_string(&f.settings).unwrap_or_default();
        let _ = writeln!(out, "  settings    {settings}");
        let _ = writeln!(
            out,
            "  data        {} examples, sha256 {}",
            f.data.size, f.data.sha256
        );
        if !f.loss_curve.is_empty() {
            let curve: Vec<String> = f.loss_curve.iter().map(|l| format!("{l:.4}")).collect();
            let _ = writeln!(out, "  loss        {}", curve.join(" → "));
        }
    }
    if !artifact.data.is_empty() {
        let _ = writeln!(out, "\n{}", h("Data"));
        dataset("trainset", &artifact.data.trainset, &mut out);
        dataset("valset", &artifact.data.valset, &mut out);
        dataset("testset", &artifact.data.testset, &mut out);
    }
    let s = &artifact.scores;
    if !s.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            h(&format!(
                "Scores ({})",
                s.metric.as_deref().unwrap_or("metric")
            ))
        );
        if s.valset_baseline.is_some() || s.valset_compiled.is_some() {
            let show = |x: Option<f64>| x.map(pct).unwrap_or_else(|| "-".into());
            let _ = writeln!(
                out,
                "  valset    baseline {}  compiled {}",
                show(s.valset_baseline),
                show(s.valset_compiled)
            );
        }
        if let Some(t) = &s.test {
            let _ = writeln!(
                out,
                "  testset   baseline {} {}  compiled {} {}  ({} examples)",
                pct(t.baseline),
                ci(t.baseline_ci95),
                pct(t.compiled),
                ci(t.compiled_ci95),
                t.examples
            );
            let _ = writeln!(
                out,
                "  gain      {:+.1} points, paired 95% CI [{:+.1}, {:+.1}], P(better) {:.3}",
                100.0 * t.difference,
                100.0 * t.difference_ci95[0],
                100.0 * t.difference_ci95[1],
                t.prob_better
            );
        }
    }
    if artifact.cost.is_some() || run.is_some() {
        let _ = writeln!(out, "\n{}", h("Cost of compiling"));
    }
    if let Some(c) = &artifact.cost {
        let _ = writeln!(
            out,
            "  {} LM requests (cache hits included); {} trials: {} calls, {} input + {} output tokens",
            c.lm_requests, c.trials, c.trial_lm_calls, c.trial_input_tokens, c.trial_output_tokens
        );
        if let Some(stop) = &c.stopped {
            let _ = writeln!(out, "  stopped early: {stop}");
        }
    }
    if let Some(r) = run {
        let _ = writeln!(
            out,
            "  last run: {:.1} s wall time, {} provider calls, {} cache hits, {} input + {} output tokens, ${:.4} (finished at unix {})",
            r.wall_time_secs,
            r.provider_calls,
            r.cache_hits,
            r.input_tokens,
            r.output_tokens,
            r.cost_usd,
            r.finished_unix
        );
    }
    if artifact.program.is_some() {
        let _ = writeln!(out, "\n{}", h("Program spec"));
        let spec = toml::to_string(&artifact.program).unwrap_or_default();
        for line in spec.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    let stale = artifact.stale_renders().unwrap_or_default();
    for p in &artifact.predictors {
        let name = if p.path.is_empty() {
            "(top level)"
        } else {
            &p.path
        };
        let _ = writeln!(out, "\n{}", h(&format!("Predictor {name}")));
        let _ = writeln!(out, "  inputs:");
        for f in p
            .fields
            .iter()
            .filter(|f| f.role == crate::signature::FieldKind::Input)
        {
            let _ = writeln!(out, "    {}", field_line(f));
        }
        let _ = writeln!(out, "  outputs:");
        for f in p
            .fields
            .iter()
            .filter(|f| f.role == crate::signature::FieldKind::Output)
        {
            let _ = writeln!(out, "    {}", field_line(f));
        }
        let _ = writeln!(out, "  instructions:");
        for line in p.instructions.lines() {
            let _ = writeln!(out, "    {line}");
        }
        let _ = writeln!(out, "  demos: {}", p.demos.len());
        for (i, d) in p.demos.iter().enumerate() {
            let aug = if d.augmented { " (bootstrapped)" } else { "" };
            let _ = writeln!(out, "    #{}{aug}", i + 1);
            if let Ok(ex) = d.to_example() {
                for (k, v) in ex.values() {
                    let _ = writeln!(out, "      {k}: {}", crate::data::value_to_string(v));
                }
            }
        }
        if stale.contains(&p.path) {
            let _ = writeln!(
                out,
                "  warning: the rendered messages below are out of date with the fields, instructions or demos above (hand-edited?)"
            );
        }
        let _ = writeln!(out, "  rendered messages (placeholder input):");
        for m in &p.rendered {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            let _ = writeln!(out, "{}", h(&format!("  ----- {role} -----")));
            for line in m.content.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
    }
    out
}
