//! `sigil run`: run a program file on inputs.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::Value;
use sigil::data::Example;
use sigil::module::Module;
use sigil::trace::ProgramInfo;

use crate::session::{LmFlags, Session};

/// Run a program file on inputs given as flags, or on JSON objects read one per line from stdin.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// The program file (TOML).
    pub program: PathBuf,
    /// Run with this compiled artifact's instructions and demos.
    #[arg(long)]
    pub artifact: Option<PathBuf>,
    /// An input as NAME=VALUE (VALUE is parsed as JSON when it is valid JSON, else taken as text).
    /// Without any, each stdin line is a JSON object of inputs.
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Print each prediction as one JSON line.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub lm: LmFlags,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let args = args.clone();
    crate::block_on(async move { run_async(&args).await })
}

async fn run_async(args: &Args) -> anyhow::Result<()> {
    let session = Session::open(&args.program, &args.lm, None).await?;
    let (ctx, _) = crate::artifacts::ctx_with_artifact(&session, args.artifact.as_deref())?;
    let _ = ProgramInfo::uncompiled("");
    let mut batches: Vec<Example> = Vec::new();
    if !args.inputs.is_empty() {
        batches.push(parse_pairs(&args.inputs)?);
    } else {
        let stdin = std::io::stdin();
        for (i, line) in stdin.lock().lines().enumerate() {
            let line = line.context("reading stdin")?;
            if line.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&line)
                .with_context(|| format!("stdin line {}: not JSON", i + 1))?;
            let Value::Object(map) = v else {
                bail!("stdin line {}: expected a JSON object of inputs", i + 1);
            };
            let mut ex = Example::new();
            for (k, v) in map {
                ex = ex.input(k, v);
            }
            batches.push(ex);
        }
        if batches.is_empty() {
            bail!("no inputs: pass --input NAME=VALUE or JSON objects on stdin");
        }
    }
    for ex in batches {
        let pred = session.program.call(&ctx, ex).await?;
        if args.json {
            println!("{}", serde_json::to_string(pred.values())?);
        } else {
            for (k, v) in pred.values() {
                match v {
                    Value::Object(steps) if k == "trajectory" => print_trajectory(steps),
                    Value::String(s) => println!("{k}: {s}"),
                    other => println!("{k}: {other}"),
                }
            }
            println!();
        }
    }
    session.flush();
    Ok(())
}

/// A ReAct trajectory as numbered steps: thought, tool call, observation.
fn print_trajectory(entries: &serde_json::Map<String, Value>) {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    println!("trajectory:");
    for i in 0.. {
        let Some(thought) = entries.get(&format!("thought_{i}")) else {
            break;
        };
        let tool = entries
            .get(&format!("tool_name_{i}"))
            .map(text)
            .unwrap_or_default();
        let args = entries
            .get(&format!("tool_args_{i}"))
            .map(text)
            .unwrap_or_default();
        let obs = entries
            .get(&format!("observation_{i}"))
            .map(text)
            .unwrap_or_default();
        println!(
            "  [{i}] thought: {}",
            text(thought).replace('\n', "\n      ")
        );
        println!("      tool: {tool} {args}");
        println!("      observation: {}", obs.replace('\n', "\n      "));
    }
}

/// `NAME=VALUE` pairs as an example of inputs.
pub fn parse_pairs(pairs: &[String]) -> anyhow::Result<Example> {
    let mut ex = Example::new();
    for raw in pairs {
        let Some((name, value)) = raw.split_once('=') else {
            bail!("--input {raw:?} is not NAME=VALUE");
        };
        let value = serde_json::from_str::<Value>(value)
            .unwrap_or_else(|_| Value::String(value.to_string()));
        ex = ex.input(name.trim(), value);
    }
    Ok(ex)
}
