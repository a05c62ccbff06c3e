//! `sigil alerts`: evaluate alert rules over the trace store.
//!
//! Exit codes: 0 when no rule fires, 3 when one does, 1 when the rules or the store
//! cannot be read (one line naming the file, the line and the key).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use sigil::trace::now_ns;
use sigil_alerts::{AlertError, AlertReport, AlertStatus, RuleSet, evaluate, post_webhook};

use crate::exit::Failure;

/// Evaluate alert rules over the trace store.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Check every rule once; exit 3 when one fires.
    Check(CheckArgs),
}

#[derive(clap::Args, Clone, Debug)]
pub struct CheckArgs {
    /// The rules file (TOML, or JSON when it ends in .json).
    #[arg(long, value_name = "FILE")]
    pub rules: PathBuf,
    /// The trace store.
    #[arg(long, default_value = sigil_store::DEFAULT_PATH)]
    pub store: PathBuf,
    /// POST firing alerts here (overrides the rules file's `webhook`).
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    match &args.command {
        Command::Check(a) => {
            let a = a.clone();
            crate::block_on(async move { check(&a).await })
        }
    }
}

async fn check(a: &CheckArgs) -> anyhow::Result<()> {
    let rules = RuleSet::load(&a.rules).map_err(|e| match e {
        // Already names the file.
        AlertError::Read { .. } | AlertError::Malformed { .. } => anyhow::anyhow!("{e}"),
        other => anyhow::anyhow!("rules file {}: {other}", a.rules.display()),
    })?;
    let webhook = a.webhook.clone().or_else(|| rules.webhook.clone());
    if let Some(w) = &webhook
        && !(w.starts_with("http://") || w.starts_with("https://"))
    {
        anyhow::bail!("--webhook `{w}` is not an http(s) URL");
    }
    let store = super::traces::open_store(&a.store)?;
    let wants_embeddings = rules
        .rules
        .iter()
        .any(|r| matches!(r.check, sigil_alerts::Check::EmbeddingDrift { .. }));
    let report = if wants_embeddings {
        // Embedding drift needs the sentence encoder (fetched on first use).
        let embedder = crate::retrievers::load_embedder().await?;
        sigil_alerts::drift::evaluate_with_embedder(&store, &rules, now_ns(), embedder)
            .await
            .with_context(|| format!("checking rules {}", a.rules.display()))?
    } else {
        evaluate(&store, &rules, now_ns())
            .with_context(|| format!("checking rules {}", a.rules.display()))?
    };

    {
        let mut out = std::io::stdout().lock();
        if a.json {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        } else {
            print_report(&mut out, &report)?;
        }
    }

    let firing = report.firing().count();
    if firing > 0
        && let Some(url) = &webhook
    {
        // The check's verdict stands even when the webhook is down: say so and go on.
        if let Err(e) = post_webhook(url, &report).await {
            eprintln!("sigil: could not post the alerts: {e}");
        }
    }
    if firing > 0 {
        let names: Vec<&str> = report.firing().map(|r| r.rule.as_str()).collect();
        return Err(Failure::check_failed(format!(
            "{firing} alert{} firing: {}",
            if firing == 1 { "" } else { "s" },
            names.join(", ")
        ))
        .into());
    }
    Ok(())
}

fn print_report(out: &mut impl Write, report: &AlertReport) -> std::io::Result<()> {
    let color = crate::exit::color_enabled();
    for r in &report.results {
        let (tag, code) = match r.status {
            AlertStatus::Ok => ("ok     ", "32"),
            AlertStatus::Firing => ("FIRING ", "31"),
            AlertStatus::NoData => ("no data", "33"),
        };
        let tag = if color {
            format!("\x1b[{code}m{tag}\x1b[0m")
        } else {
            tag.to_string()
        };
        writeln!(out, "{tag}  {}  {}", r.rule, r.message)?;
    }
    Ok(())
}
