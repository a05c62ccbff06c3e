//! The grounded instruction proposer: an LM writes candidate instructions for each
//! predictor from a summary of the dataset, a description of the program and of the
//! predictor's role, sample demos, and a randomly chosen prompting tip.

use std::sync::Arc;

use indexmap::IndexMap;

use super::OptimizeError;
use super::bootstrap::DemoSet;
use super::engine::Engine;
use crate::data::{Example, value_to_string};
use crate::lm::{Lm, LmParams};
use crate::module::{Ctx, Module, Predict};
use crate::rng::SeededRng;
use crate::signature::{Signature, SignatureError};

/// Tips the proposer picks from at random, one per proposal (name, text; `none` adds no tip).
const PROMPTING_TIPS: [(&str, &str); 6] = [
    ("none", ""),
    (
        "creative",
        "Feel free to take an unusual angle; a surprising instruction can work better than an obvious one.",
    ),
    (
        "simple",
        "Write a short, plain instruction without extra words.",
    ),
    (
        "description",
        "Spell the task out in detail: what the inputs are and what a good output looks like.",
    ),
    (
        "high_stakes",
        "Frame the task as one where getting the answer right matters a great deal.",
    ),
    (
        "persona",
        "Begin by giving the model a role suited to the task, for example \"You are an expert ...\".",
    ),
];

/// How many demos the proposer shows per proposal.
const DEMOS_IN_CONTEXT: usize = 3;

/// One LM call through a signature of the proposer's own, at `temperature` with a
/// fresh rollout id. `Ok(None)` when the call or its parsing failed (the caller falls
/// back); `BudgetExhausted` when the budget refused it.
pub(crate) async fn ask_lm(
    engine: &Engine<'_>,
    ctx: &Ctx,
    signature: Signature,
    inputs: Example,
    output: &str,
    temperature: f64,
    rollout: u64,
) -> Result<Option<String>, OptimizeError> {
    let predict = Predict::new(signature);
    let refused = engine.budget.refused();
    let params = LmParams {
        temperature: Some(temperature),
        ..ctx.params().clone()
    };
    let ctx = ctx
        .with_params(params)
        .with_rollout_id(Some(rollout))
        .with_overlay(None);
    let result = predict.call(&ctx, inputs).await;
    engine.check_budget(refused)?;
    Ok(result
        .ok()
        .and_then(|p| p.get_str(output))
        .map(|s| clean(&s))
        .filter(|s| !s.is_empty()))
}

/// A signature of the optimizer's own, from its text and instructions.
pub(crate) fn own_signature(text: &str, instructions: &str) -> Result<Signature, OptimizeError> {
    Signature::parse(text)
        .map(|s| s.with_instructions(instructions))
        .map_err(|e: SignatureError| {
            OptimizeError::Other(format!("optimizer signature `{text}`: {e}"))
        })
}

/// Drops a leading label (`Proposed Instruction:`) and surrounding quotes an LM tends
/// to add. Only short labels naming what was asked for are dropped, so an instruction
/// that itself starts with `Classify the intent:` keeps its words.
pub(crate) fn clean(text: &str) -> String {
    let t = text.trim();
    let is_label = |head: &str| {
        let h = head
            .trim_matches(|c: char| c == '*' || c.is_whitespace())
            .to_lowercase();
        h.split_whitespace().count() <= 4
            && ["instruction", "summary", "observation", "description"]
                .iter()
                .any(|w| h.contains(w))
    };
    let t = match t.split_once(':') {
        Some((head, rest)) if is_label(head) => rest.trim(),
        _ => t,
    };
    t.trim_matches('"').trim().to_string()
}

/// A demo as the predictor's fields, one `Prefix: value` line each.
fn demo_text(signature: &Signature, demo: &Example) -> String {
    signature
        .fields()
        .filter_map(|(_, f)| {
            demo.get(&f.name)
                .map(|v| format!("{} {}", f.prefix_or_default(), value_to_string(v)))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn examples_text(examples: &[Example]) -> String {
    examples
        .iter()
        .map(|e| {
            e.values()
                .iter()
                .map(|(k, v)| format!("{k}: {}", value_to_string(v)))
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the proposer uses, and how.
#[derive(Clone, Debug)]
pub(crate) struct ProposerSettings {
    pub program_aware: bool,
    pub data_aware: bool,
    pub tip_aware: bool,
    pub fewshot_aware: bool,
    pub view_data_batch_size: usize,
    pub temperature: f64,
}

pub(crate) struct Proposer<'e, 'a> {
    engine: &'e Engine<'a>,
    ctx: Ctx,
    s: ProposerSettings,
}

impl<'e, 'a> Proposer<'e, 'a> {
    pub(crate) fn new(
        engine: &'e Engine<'a>,
        prompt_lm: Option<&Arc<dyn Lm>>,
        s: ProposerSettings,
    ) -> Self {
        let ctx = match prompt_lm {
            Some(lm) => engine.ctx.with_lm(engine.wrap_lm(lm.clone())),
            None => engine.ctx.clone(),
        };
        Proposer { engine, ctx, s }
    }

    async fn ask(
        &self,
        sig: Signature,
        inputs: Example,
        output: &str,
        rng: &mut SeededRng,
    ) -> Result<Option<String>, OptimizeError> {
        let rollout = rng.next_u64() % 1_000_000_000;
        ask_lm(
            self.engine,
            &self.ctx,
            sig,
            inputs,
            output,
            self.s.temperature,
            rollout,
        )
        .await
    }

    /// Observations over batches of the trainset, then a short summary of them.
    async fn dataset_summary(
        &self,
        trainset: &[Example],
        rng: &mut SeededRng,
    ) -> Result<Option<String>, OptimizeError> {
        let size = self.s.view_data_batch_size.max(1);
        let first = own_signature(
            "examples -> observations",
            "Look at these samples from a dataset and write down what holds for most or all of them: their topic, \
                 content, form and length. Guess what task the dataset is meant for.",
        )?;
        let end = size.min(trainset.len());
        let Some(mut observations) = self
            .ask(
                first,
                Example::new().input("examples", examples_text(&trainset[..end])),
                "observations",
                rng,
            )
            .await?
        else {
            return Ok(None);
        };
        let more = own_signature(
            "examples, prior_observations -> observations",
            "Look at these further samples from the dataset. Add observations that the earlier ones miss, or \
                 answer COMPLETE if they already cover the data.",
        )?;
        let (mut calls, mut complete) = (1, 0);
        let mut start = size;
        while start < trainset.len() && calls < 10 {
            calls += 1;
            let batch = &trainset[start..(start + size).min(trainset.len())];
            start += size;
            let inputs = Example::new()
                .input("examples", examples_text(batch))
                .input("prior_observations", observations.clone());
            match self.ask(more.clone(), inputs, "observations", rng).await? {
                Some(o) if o.to_uppercase().starts_with("COMPLETE") => {
                    complete += 1;
                    if complete >= 5 {
                        break;
                    }
                }
                Some(o) => observations = format!("{observations}\n{o}"),
                None => break,
            }
        }
        let summarize = own_signature(
            "observations -> summary",
            "Condense these observations about a dataset into two or three sentences with only what matters most.",
        )?;
        Ok(self
            .ask(
                summarize,
                Example::new().input("observations", observations.clone()),
                "summary",
                rng,
            )
            .await?
            .or(Some(observations)))
    }

    /// Instruction candidates per predictor path: index 0 is the predictor's own
    /// instruction, then one proposal per demo set (at most `n` in all).
    pub(crate) async fn propose(
        &self,
        trainset: &[Example],
        demo_sets: &IndexMap<String, Vec<DemoSet>>,
        n: usize,
        rng: &mut SeededRng,
    ) -> Result<IndexMap<String, Vec<String>>, OptimizeError> {
        let program = self.engine.program;
        let summary = if self.s.data_aware {
            self.dataset_summary(trainset, rng).await?
        } else {
            None
        };
        let code: String = program
            .named_predictors()
            .iter()
            .map(|(path, p)| {
                format!(
                    "predictor `{path}`: {}\n  instructions: {}",
                    p.signature().to_signature_string(),
                    p.signature().instructions()
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut out = IndexMap::new();
        let mut program_description = None;
        for (path, predictor) in program.named_predictors() {
            let signature = predictor.signature();
            let sets = demo_sets.get(&path).map(Vec::as_slice).unwrap_or(&[]);
            let basic = signature.instructions();
            let mut module_description = None;
            if self.s.program_aware {
                let example = sets
                    .iter()
                    .flat_map(|s| s.demos[..s.augmented].iter())
                    .next()
                    .map(|d| demo_text(signature, d))
                    .unwrap_or_default();
                if program_description.is_none() {
                    let sig = own_signature(
                        "program_code, program_example -> program_description",
                        "Here is an outline of a program built from language-model calls. Say what task it solves and how it goes about it.",
                    )?;
                    let inputs = Example::new()
                        .input("program_code", code.clone())
                        .input("program_example", example.clone());
                    program_description = self.ask(sig, inputs, "program_description", rng).await?;
                }
                let sig = own_signature(
                    "program_code, program_example, program_description, module -> module_description",
                    "Here is an outline of a program built from language-model calls. Describe the role of the named module in it.",
                )?;
                let inputs = Example::new()
                    .input("program_code", code.clone())
                    .input("program_example", example)
                    .input(
                        "program_description",
                        program_description.clone().unwrap_or_default(),
                    )
                    .input(
                        "module",
                        format!("{path}: {}", signature.to_signature_string()),
                    );
                module_description = self.ask(sig, inputs, "module_description", rng).await?;
            }
            // As many candidates as demo sets (at most n); the first is the predictor's own.
            let rounds = if sets.is_empty() {
                n
            } else {
                n.min(sets.len())
            };
            let mut candidates = vec![basic.clone()];
            for set_i in 1..rounds {
                let tip = PROMPTING_TIPS[rng.below(PROMPTING_TIPS.len())].1;
                let mut names = Vec::new();
                let mut inputs = Example::new();
                if let Some(s) = summary.as_ref() {
                    names.push("dataset_description");
                    inputs = inputs.input("dataset_description", s.clone());
                }
                if self.s.program_aware {
                    names.extend([
                        "program_code",
                        "program_description",
                        "module",
                        "module_description",
                    ]);
                    inputs = inputs
                        .input("program_code", code.clone())
                        .input(
                            "program_description",
                            program_description
                                .clone()
                                .unwrap_or_else(|| "Not available".into()),
                        )
                        .input(
                            "module",
                            format!("{path}: {}", signature.to_signature_string()),
                        )
                        .input(
                            "module_description",
                            module_description
                                .clone()
                                .unwrap_or_else(|| "Not available".into()),
                        );
                }
                // Demos from this set first, then the following sets, wrapping around.
                let demos: Vec<String> = if self.s.fewshot_aware && !sets.is_empty() {
                    (0..sets.len())
                        .map(|k| &sets[(set_i + k) % sets.len()])
                        .flat_map(|s| s.demos[..s.augmented].iter())
                        .take(DEMOS_IN_CONTEXT)
                        .map(|d| demo_text(signature, d))
                        .collect()
                } else {
                    Vec::new()
                };
                names.push("task_demos");
                let demos = if demos.is_empty() {
                    "No task demos provided.".to_string()
                } else {
                    demos.join("\n\n")
                };
                inputs = inputs.input("task_demos", demos);
                names.push("basic_instruction");
                inputs = inputs.input("basic_instruction", basic.clone());
                if self.s.tip_aware && !tip.is_empty() {
                    names.push("tip");
                    inputs = inputs.input("tip", tip);
                }
                let sig = own_signature(
                    &format!("{} -> proposed_instruction", names.join(", ")),
                    "You are improving the prompt of one step of a language-model program. Learn what the task is \
                         from the material below, then write a new instruction that will make a language model do this step better.",
                )?;
                let proposal = self.ask(sig, inputs, "proposed_instruction", rng).await?;
                // A failed proposal falls back to the predictor's own instruction.
                candidates.push(proposal.unwrap_or_else(|| basic.clone()));
            }
            out.insert(path, candidates);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_quotes_are_stripped() {
        assert_eq!(
            clean("Proposed Instruction: \"Classify the text.\""),
            "Classify the text."
        );
        assert_eq!(clean("**Instruction**: Do it"), "Do it");
        assert_eq!(
            clean("Classify the intent: one label."),
            "Classify the intent: one label."
        );
    }
}
