//! Flags and commands, each defined once; help text comes from these definitions.
//! Every command's flags live beside its code in `cmd/<name>.rs`.

use clap::{Parser, Subcommand};

use crate::cmd;

#[derive(Parser, Debug)]
#[command(
    name = "sigil",
    version,
    about = "Declarative LM programming: signatures, modules, optimizers, traces"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the bundled example end to end on the embedded model (start here).
    Quickstart(cmd::quickstart::Args),
    /// Run a program file on inputs.
    Run(cmd::run::Args),
    /// Score a program file (optionally compiled) on a dataset.
    Eval(cmd::eval::Args),
    /// Compile a program file with its optimizer and write the artifact.
    Compile(cmd::compile::Args),
    /// Print the exact messages a predictor sends for the given inputs.
    Render(cmd::render::Args),
    /// Show a compiled artifact: prompts per predictor and provenance.
    Show(cmd::show::Args),
    /// Compare two compiled artifacts side by side.
    Diff(cmd::diff::Args),
    /// Exit non-zero unless a candidate artifact beats the current one on a test set.
    Promote(cmd::promote::Args),
    /// Serve the embedded model over an OpenAI-compatible HTTP API.
    Serve(cmd::serve::Args),
    /// The web UI over the trace store.
    Ui(cmd::ui::Args),
    /// List, show and export stored traces.
    Traces(cmd::traces::Args),
    /// Evaluate alert rules over the trace store.
    Alerts(cmd::alerts::Args),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Quickstart(a) => cmd::quickstart::run(&a),
        Command::Run(a) => cmd::run::run(&a),
        Command::Eval(a) => cmd::eval::run(&a),
        Command::Compile(a) => cmd::compile::run(&a),
        Command::Render(a) => cmd::render::run(&a),
        Command::Show(a) => cmd::show::run(&a),
        Command::Diff(a) => cmd::diff::run(&a),
        Command::Promote(a) => cmd::promote::run(&a),
        Command::Serve(a) => cmd::serve::run(&a),
        Command::Ui(a) => cmd::ui::run(&a),
        Command::Traces(a) => cmd::traces::run(&a),
        Command::Alerts(a) => cmd::alerts::run(&a),
    }
}
