//! Flags and commands, each defined once; help text comes from these definitions.

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "sigil",
    version,
    about = "Declarative LM programming: signatures, modules, evaluation"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the exact messages a predictor sends for the given inputs.
    Render(RenderArgs),
}

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
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

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AdapterKind {
    Chat,
    Json,
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Render(args) => crate::render::run(&args),
    }
}
