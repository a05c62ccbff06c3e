//! `sigil render`: the exact messages a predictor sends, without calling an LM.

use anyhow::{Context, bail};
use serde_json::Value;
use sigil::adapter::{Adapter, ChatAdapter, JsonAdapter, check_inputs};
use sigil::prelude::*;

use crate::cli::{AdapterKind, RenderArgs};

pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
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
