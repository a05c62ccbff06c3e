//! `sigil render`: the exact messages a predictor sends, without calling an LM.

use anyhow::{Context, bail};
use serde_json::Value;
use sigil::adapter::{Adapter, ChatAdapter, JsonAdapter, check_inputs};
use sigil::prelude::*;

/// Print the exact messages a predictor sends for the given inputs.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The signature, e.g. "question, context: list[str] -> answer: int".
    #[arg(long, short)]
    pub signature: String,
    /// Instructions for the predictor (default: DSPy's "Given the fields ..." sentence).
    #[arg(long)]
    pub instructions: Option<String>,
    /// An input value as NAME=VALUE; VALUE is parsed as JSON when it is valid JSON, else taken as text.
    #[arg(long = "input", short = 'i', value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Wrap in ChainOfThought (adds a `reasoning` output first).
    #[arg(long)]
    pub cot: bool,
    /// The prompt format.
    #[arg(long, value_enum, default_value_t = AdapterKind::Chat)]
    pub adapter: AdapterKind,
    /// Print the messages as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum AdapterKind {
    Chat,
    Json,
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let mut signature = Signature::parse(&args.signature).context("in --signature")?;
    if let Some(i) = &args.instructions {
        signature = signature.with_instructions(i.clone());
    }
    if args.cot {
        signature = ChainOfThought::new(signature)?
            .predict()
            .signature()
            .clone();
    }
    let mut inputs = Example::new();
    for raw in &args.inputs {
        let Some((name, value)) = raw.split_once('=') else {
            bail!("--input {raw:?} is not NAME=VALUE");
        };
        let value = serde_json::from_str::<Value>(value)
            .unwrap_or_else(|_| Value::String(value.to_string()));
        inputs = inputs.input(name.trim(), value);
    }
    check_inputs(&signature, &inputs)?;
    let adapter: &dyn Adapter = match args.adapter {
        AdapterKind::Chat => &ChatAdapter,
        AdapterKind::Json => &JsonAdapter,
    };
    let messages = adapter.format(&signature, &[], &inputs)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&messages)?);
    } else {
        for m in &messages {
            println!(
                "--- {} ---",
                serde_json::to_value(m.role)?.as_str().unwrap_or("?")
            );
            println!("{}", m.content);
        }
    }
    Ok(())
}
