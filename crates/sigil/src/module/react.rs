//! ReAct: reason, call a tool, read the observation, repeat; then extract the answer.
//!
//! As DSPy 3.4.1's `dspy.ReAct`, byte for byte in what it sends: two predictors,
//! `react` (inputs + `trajectory` → `next_thought`, `next_tool_name` among the tools
//! and `finish`, `next_tool_args`) and `extract` (a ChainOfThought from inputs +
//! `trajectory` to the signature's outputs), the same instructions and tool list, the
//! same trajectory text, and the same truncation (the oldest step dropped, up to three
//! times) when the prompt exceeds the context window. Both predictors have paths
//! (`react`, `extract`), so every optimizer compiles a ReAct program.
//!
//! Better than DSPy where DSPy loses information: each iteration is a span (the step's
//! predictor call and its `TOOL` span inside it), a tool's failure is a typed
//! [`ToolError`] shown to the LM as the observation, and a run that stops early (the LM
//! never finishing, a step that does not parse, a prompt that cannot be truncated
//! further) keeps its trajectory in the prediction.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::{ArgsByChoice, CallCtx, ChainOfThought, Ctx, Module, ModuleError, Predict};
use crate::adapter::input_sections;
use crate::data::{Example, Prediction};
use crate::lm::LmError;
use crate::signature::{Field, FieldKind, FieldType, Signature, SignatureError};
use crate::tool::{Tool, ToolError};
use crate::trace::{EndData, ModuleOutput, StartData};

/// DSPy's default `max_iters`.
pub const DEFAULT_MAX_ITERS: usize = 20;

/// How many times a step's prompt is truncated before giving up (DSPy's 3).
const TRUNCATION_ATTEMPTS: usize = 3;

/// Why a ReAct program cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ReActError {
    /// The signature (or one ReAct derives from it) is invalid, e.g. it already has a
    /// field named `trajectory`.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Two tools have this name.
    #[error("two tools are named {0:?}")]
    DuplicateTool(String),
    /// A tool is named `finish`, which ReAct adds itself.
    #[error("a tool may not be named \"finish\": ReAct adds its own finish tool")]
    FinishTool,
}

/// A tool-using agent over any signature (see the module docs).
#[derive(Clone, Debug)]
pub struct ReAct {
    signature: Arc<Signature>,
    /// The user's tools, then `finish`.
    tools: Vec<Tool>,
    max_iters: usize,
    react: Predict,
    extract: ChainOfThought,
}

impl ReAct {
    /// A ReAct over `signature` with these tools (and `finish`), at most
    /// [`DEFAULT_MAX_ITERS`] steps.
    pub fn new(signature: Signature, tools: Vec<Tool>) -> Result<Self, ReActError> {
        let mut seen = std::collections::HashSet::new();
        for t in &tools {
            if t.name() == "finish" {
                return Err(ReActError::FinishTool);
            }
            if !seen.insert(t.name().to_string()) {
                return Err(ReActError::DuplicateTool(t.name().to_string()));
            }
        }
        let quoted = |fields: &[Field]| {
            fields
                .iter()
                .map(|f| format!("`{}`", f.name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (inputs, outputs) = (quoted(signature.inputs()), quoted(signature.outputs()));
        let mut tools = tools;
        tools.push(finish_tool(&outputs));

        let mut instr = vec![
            format!("{}\n", signature.instructions()),
            format!(
                "You are an Agent. In each episode, you will be given the fields {inputs} as input. And you can see your past trajectory so far."
            ),
            format!(
                "Your goal is to use one or more of the supplied tools to collect any necessary information for producing {outputs}.\n"
            ),
            "To do this, you will interleave next_thought, next_tool_name, and next_tool_args in each turn, and also when finishing the task.".into(),
            "After each tool call, you receive a resulting observation, which gets appended to your trajectory.\n".into(),
            "When writing next_thought, you may reason about the current situation and plan for future steps.".into(),
            "When selecting the next_tool_name and its next_tool_args, the tool must be one of:\n".into(),
        ];
        for (i, t) in tools.iter().enumerate() {
            instr.push(format!("({}) {t}", i + 1));
        }
        instr.push(
            "When providing `next_tool_args`, the value inside the field must be in JSON format"
                .into(),
        );

        let names: Vec<String> = tools.iter().map(|t| t.name().to_string()).collect();
        // While decoding (where the LM can enforce it), the tool named decides the
        // arguments' schema; a tool without arguments takes exactly `{}`.
        let cases = tools
            .iter()
            .map(|t| {
                let mut schema = t.parameters_schema();
                if t.args().is_empty() {
                    schema["additionalProperties"] = Value::Bool(false);
                }
                (t.name().to_string(), schema)
            })
            .collect();
        let react_signature = Signature::new(
            signature.inputs().to_vec(),
            vec![
                Field::new("next_thought", FieldType::Str),
                Field::new("next_tool_name", FieldType::Literal { choices: names }),
                Field::new("next_tool_args", FieldType::dict(FieldType::Any)),
            ],
        )?
        .with_instructions(instr.join("\n"))
        .insert(
            FieldKind::Input,
            signature.inputs().len(),
            Field::new("trajectory", FieldType::Str),
        )?;
        let extract_signature =
            Signature::new(signature.inputs().to_vec(), signature.outputs().to_vec())?
                .with_instructions(signature.instructions())
                .append(FieldKind::Input, Field::new("trajectory", FieldType::Str))?;
        Ok(ReAct {
            signature: Arc::new(signature),
            tools,
            max_iters: DEFAULT_MAX_ITERS,
            react: Predict::new(react_signature).with_args_by_choice(ArgsByChoice {
                choice: "next_tool_name".into(),
                args: "next_tool_args".into(),
                cases,
            }),
            extract: ChainOfThought::new(extract_signature)?,
        })
    }

    /// Parses the signature's string form, then [`ReAct::new`].
    pub fn parse(signature: &str, tools: Vec<Tool>) -> Result<Self, ReActError> {
        ReAct::new(Signature::parse(signature)?, tools)
    }

    /// At most `n` tool calls before extracting the answer.
    pub fn with_max_iters(mut self, n: usize) -> Self {
        self.max_iters = n;
        self
    }

    /// The signature the agent answers.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }
    /// The tools, `finish` last.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }
    /// The step limit.
    pub fn max_iters(&self) -> usize {
        self.max_iters
    }
    /// The predictor choosing each step (path `react`).
    pub fn react(&self) -> &Predict {
        &self.react
    }
    /// The predictor answering from the trajectory (path `extract`).
    pub fn extract(&self) -> &ChainOfThought {
        &self.extract
    }
    /// The trajectory text the predictors get (DSPy's `_format_trajectory`): each entry
    /// of `entries` (`thought_0`, `tool_name_0`, `tool_args_0`, `observation_0`, ...)
    /// as a `[[ ## key ## ]]` section.
    pub fn format_trajectory(entries: &Example) -> String {
        Trajectory {
            entries: entries.clone(),
        }
        .text()
    }

    fn tool(&self, name: &str) -> Result<&Tool, ToolError> {
        self.tools
            .iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| ToolError::Unknown {
                name: name.to_string(),
                known: self
                    .tools
                    .iter()
                    .map(Tool::name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Calls `module` with the inputs and the trajectory, dropping the oldest step and
    /// trying again (up to three times) when the prompt exceeds the context window.
    async fn call_truncating(
        &self,
        module: &dyn Module,
        ctx: &Ctx,
        inputs: &Example,
        trajectory: &mut Trajectory,
    ) -> Result<Prediction, ModuleError> {
        let mut last = None;
        for _ in 0..TRUNCATION_ATTEMPTS {
            let full = inputs.clone().input("trajectory", trajectory.text());
            match module.call(ctx, full).await {
                Err(ModuleError::Lm {
                    path,
                    source: LmError::ContextWindowExceeded { provider, message },
                }) => {
                    if !trajectory.drop_oldest() {
                        return Err(ModuleError::Lm {
                            path,
                            source: LmError::ContextWindowExceeded {
                                provider,
                                message: format!(
                                    "{message} (the trajectory cannot be truncated: it has one tool call)"
                                ),
                            },
                        });
                    }
                    last = Some((path, provider, message));
                }
                other => return other,
            }
        }
        let (path, provider, message) = last.unwrap_or_default();
        Err(ModuleError::Lm {
            path,
            source: LmError::ContextWindowExceeded {
                provider,
                message: format!("{message} (still after {TRUNCATION_ATTEMPTS} truncations)"),
            },
        })
    }
}

/// DSPy's `finish` tool: no arguments, observation `Completed.`.
fn finish_tool(outputs: &str) -> Tool {
    Tool::new(
        "finish",
        format!(
            "Marks the task as complete. That is, signals that all information for producing the outputs, i.e. {outputs}, are now available to be extracted."
        ),
        Value::Object(Map::new()),
        |_| async { Ok::<_, std::convert::Infallible>("Completed.") },
    )
}

/// The steps so far: `thought_i`, `tool_name_i`, `tool_args_i`, `observation_i`.
#[derive(Default)]
struct Trajectory {
    entries: Example,
}

impl Trajectory {
    fn push(&mut self, key: String, value: Value) {
        self.entries.insert(key, value);
    }

    /// The trajectory as DSPy writes it: each entry as an input section.
    fn text(&self) -> String {
        let fields: Vec<Field> = self
            .entries
            .keys()
            .map(|k| Field::new(k, FieldType::Str))
            .collect();
        // Entry names are identifiers (`thought_0`, ...), so this cannot fail.
        match Signature::new(fields, vec![Field::new("x", FieldType::Str)]) {
            Ok(sig) => input_sections(&sig, &self.entries),
            Err(_) => String::new(),
        }
    }

    /// Drops the oldest step (its four entries); false when one step or none is left.
    fn drop_oldest(&mut self) -> bool {
        if self.entries.len() <= 4 {
            return false;
        }
        let keep: Vec<(String, Value)> = self
            .entries
            .values()
            .iter()
            .skip(4)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.entries = Example::new();
        for (k, v) in keep {
            self.entries.insert(k, v);
        }
        true
    }

    fn to_value(&self) -> Value {
        Value::Object(
            self.entries
                .values()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }
}

/// A step's outputs: thought, tool name, arguments.
fn step_of(pred: &Prediction) -> (Value, String, Value) {
    let thought = pred.get("next_thought").cloned().unwrap_or(Value::Null);
    let name = pred.get_str("next_tool_name").unwrap_or_default();
    let args = pred
        .get("next_tool_args")
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    (thought, name, args)
}

#[async_trait]
impl Module for ReAct {
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        let mut trajectory = Trajectory::default();
        let mut stats = Prediction::default();
        for idx in 0..self.max_iters {
            let span = ctx.start_span(format!("iteration {idx}"), || StartData::Module {
                inputs: Arc::new(Example::new().input("iteration", idx as u64)),
            });
            let step_ctx = ctx.child(&span);
            let pred = match self
                .call_truncating(&self.react, &step_ctx, &inputs, &mut trajectory)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    // DSPy ends the trajectory (and still extracts an answer) when a
                    // step cannot fit the context or does not parse (no valid tool
                    // chosen); the iteration's span keeps the reason.
                    let ends_trajectory = matches!(
                        &e,
                        ModuleError::Parse { .. }
                            | ModuleError::Lm {
                                source: LmError::ContextWindowExceeded { .. },
                                ..
                            }
                    );
                    let info = e.to_error_info();
                    span.end_with(|| EndData::Module(Err(info)));
                    if ends_trajectory {
                        break;
                    }
                    return Err(e);
                }
            };
            stats.absorb_stats(&pred);
            let (thought, name, args) = step_of(&pred);
            trajectory.push(format!("thought_{idx}"), thought.clone());
            trajectory.push(format!("tool_name_{idx}"), Value::String(name.clone()));
            trajectory.push(format!("tool_args_{idx}"), args.clone());
            let observation = match self.tool(&name) {
                Ok(tool) => tool.call_traced(&step_ctx, args.clone()).await,
                Err(e) => Err(e),
            };
            let observation = match observation {
                Ok(v) => v,
                Err(e) => Value::String(format!("Execution error in {name}: {e}")),
            };
            trajectory.push(format!("observation_{idx}"), observation.clone());
            span.end_with(|| {
                let mut step = crate::adapter::Fields::new();
                step.insert("thought".into(), thought);
                step.insert("tool_name".into(), Value::String(name.clone()));
                step.insert("tool_args".into(), args);
                step.insert("observation".into(), observation);
                EndData::Module(Ok(ModuleOutput {
                    outputs: Arc::new(step),
                    usage: pred.usage,
                    lm_calls: pred.lm_calls,
                    fallbacks: pred.fallbacks,
                }))
            });
            if name == "finish" {
                break;
            }
        }
        let extract = self
            .call_truncating(&self.extract, ctx, &inputs, &mut trajectory)
            .await?;
        let mut out = Prediction::default();
        out.insert("trajectory", trajectory.to_value());
        for (k, v) in extract.values() {
            out.insert(k.clone(), v.clone());
        }
        out.absorb_stats(&stats);
        out.absorb_stats(&extract);
        Ok(out)
    }

    fn name(&self) -> &str {
        "ReAct"
    }

    fn named_predictors(&self) -> Vec<(String, &Predict)> {
        vec![
            ("react".into(), &self.react),
            ("extract".into(), self.extract.predict()),
        ]
    }
}

#[cfg(test)]
#[path = "react_tests.rs"]
mod tests;
