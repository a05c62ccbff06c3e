//! Tools: functions an agent ([`crate::module::ReAct`]) can call.
//!
//! A [`Tool`] has a name, a description and a JSON schema for each argument, as DSPy's
//! `dspy.Tool` has, and runs async. Make one from a typed async fn (the schema derived
//! from the argument struct with `schemars`), or from argument schemas and a closure
//! over JSON. Calling a tool checks and converts its arguments against the schemas
//! first; a bad argument, an error the tool returns, a panic or a timeout is a
//! [`ToolError`], which ReAct shows the LM as the step's observation.
//!
//! ```
//! # async fn demo() -> Result<(), sigil::tool::ToolError> {
//! use sigil::tool::Tool;
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Add {
//!     a: i64,
//!     b: i64,
//! }
//! let add = Tool::from_fn("add", "Add two integers.", |x: Add| async move {
//!     Ok::<_, std::convert::Infallible>(x.a + x.b)
//! });
//! let sum = add.call(serde_json::json!({"a": 2, "b": 40})).await?;
//! assert_eq!(sum, 42);
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::adapter::py_repr;
use crate::lm::ToolSpec;
use crate::module::Ctx;

mod calls;

use crate::trace::{EndData, ErrorInfo, StartData};
pub use calls::{ToolCall, ToolCalls};

/// A call's future: the tool's result as JSON, or its error message.
pub type ToolFuture = Pin<Box<dyn Future<Output = Result<Value, String>> + Send>>;

/// What runs a tool.
type RunFn = dyn Fn(Map<String, Value>) -> ToolFuture + Send + Sync;

/// A function an agent can call: name, description, argument schemas, and the code.
/// Cheap to clone (shared).
#[derive(Clone)]
pub struct Tool {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    name: String,
    desc: Option<String>,
    /// Argument name → its JSON schema (DSPy's `Tool.args`), in order.
    args: Map<String, Value>,
    /// The arguments a call must give.
    required: Vec<String>,
    timeout: Option<Duration>,
    run: Arc<RunFn>,
}

/// Why a tool call did not give a result. Inside ReAct each becomes the step's
/// observation; the program goes on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The LM named a tool that does not exist.
    #[error("unknown tool {name:?}; the tools are: {known}")]
    Unknown {
        /// The name the LM gave.
        name: String,
        /// The tools there are, comma-separated.
        known: String,
    },
    /// The arguments were not a JSON object.
    #[error("the arguments of {tool} must be a JSON object, got {got}")]
    NotAnObject {
        /// The tool.
        tool: String,
        /// What was given instead (shortened).
        got: String,
    },
    /// An argument the tool does not take (DSPy's wording).
    #[error("Arg {arg} is not in the tool's args.")]
    UnknownArg {
        /// The tool.
        tool: String,
        /// The argument's name.
        arg: String,
    },
    /// An argument that does not match its schema (DSPy's wording).
    #[error("Arg {arg} is invalid: {message}")]
    InvalidArg {
        /// The tool.
        tool: String,
        /// The argument's name.
        arg: String,
        /// What is wrong with it.
        message: String,
    },
    /// A required argument was not given.
    #[error("{tool} is missing the required argument {arg}")]
    MissingArg {
        /// The tool.
        tool: String,
        /// The argument's name.
        arg: String,
    },
    /// The tool returned an error.
    #[error("{message}")]
    Failed {
        /// The tool.
        tool: String,
        /// The tool's error message.
        message: String,
    },
    /// The tool panicked.
    #[error("the tool panicked: {message}")]
    Panicked {
        /// The tool.
        tool: String,
        /// The panic's message.
        message: String,
    },
    /// The tool did not finish within its timeout.
    #[error("the tool did not answer within {after:?}")]
    TimedOut {
        /// The tool.
        tool: String,
        /// Its time limit.
        after: Duration,
    },
}

impl ToolError {
    /// The name of the tool (as the LM gave it, for [`ToolError::Unknown`]).
    pub fn tool(&self) -> &str {
        match self {
            ToolError::Unknown { name, .. } => name,
            ToolError::NotAnObject { tool, .. }
            | ToolError::UnknownArg { tool, .. }
            | ToolError::InvalidArg { tool, .. }
            | ToolError::MissingArg { tool, .. }
            | ToolError::Failed { tool, .. }
            | ToolError::Panicked { tool, .. }
            | ToolError::TimedOut { tool, .. } => tool,
        }
    }
}

impl Tool {
    /// A tool over JSON: `args` maps each argument's name to its JSON schema (an
    /// argument with a `default` is optional), and `f` gets the checked arguments.
    ///
    /// Panics if `args` is not a JSON object (a programming error, like a bad regex).
    pub fn new<F, Fut, R, E>(
        name: impl Into<String>,
        desc: impl Into<String>,
        args: Value,
        f: F,
    ) -> Tool
    where
        F: Fn(Map<String, Value>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Serialize,
        E: fmt::Display,
    {
        let Value::Object(args) = args else {
            panic!("Tool::new: `args` must be a JSON object of argument schemas");
        };
        let required = without_default(&args);
        Tool::from_parts(name, non_empty(desc.into()), args, required, move |a| {
            let fut = f(a);
            Box::pin(async move { to_result(fut.await) })
        })
    }

    /// A tool from a typed async fn: the arguments are the fields of `A`, their schemas
    /// derived with `schemars` (`#[serde(default)]` fields are optional), and a result
    /// is anything serializable.
    pub fn from_fn<A, F, Fut, R, E>(name: impl Into<String>, desc: impl Into<String>, f: F) -> Tool
    where
        A: DeserializeOwned + schemars::JsonSchema + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
        R: Serialize,
        E: fmt::Display,
    {
        let (args, required) = arg_schemas::<A>();
        let f = Arc::new(f);
        Tool::from_parts(name, non_empty(desc.into()), args, required, move |a| {
            let f = f.clone();
            Box::pin(async move {
                let typed: A = serde_json::from_value(Value::Object(a))
                    .map_err(|e| format!("the arguments do not fit: {e}"))?;
                to_result(f(typed).await)
            })
        })
    }

    /// A tool from a name, a description, argument schemas, the names of the required
    /// arguments and a function returning a boxed future (how other crates, such as
    /// the MCP client, build tools).
    pub fn from_parts(
        name: impl Into<String>,
        desc: Option<String>,
        args: Map<String, Value>,
        required: Vec<String>,
        run: impl Fn(Map<String, Value>) -> ToolFuture + Send + Sync + 'static,
    ) -> Tool {
        Tool {
            inner: Arc::new(Inner {
                name: name.into(),
                desc,
                args,
                required,
                timeout: None,
                run: Arc::new(run),
            }),
        }
    }

    /// The same tool with a time limit per call.
    pub fn with_timeout(self, timeout: Duration) -> Tool {
        self.rebuild(|i| i.timeout = Some(timeout))
    }

    /// The same tool under another description.
    pub fn with_desc(self, desc: impl Into<String>) -> Tool {
        let desc = non_empty(desc.into());
        self.rebuild(|i| i.desc = desc)
    }

    /// This tool with `change` made (a copy of the shared description when the tool
    /// is shared; the code stays shared).
    fn rebuild(mut self, change: impl FnOnce(&mut Inner)) -> Tool {
        change(Arc::make_mut(&mut self.inner));
        self
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }
    /// The tool's description, if it has one.
    pub fn desc(&self) -> Option<&str> {
        self.inner.desc.as_deref()
    }
    /// Argument name → JSON schema, in order.
    pub fn args(&self) -> &Map<String, Value> {
        &self.inner.args
    }
    /// The time limit per call, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.inner.timeout
    }
    /// The arguments a call must give (for tools over JSON: those without a
    /// `default`, as DSPy has it).
    pub fn required(&self) -> Vec<&str> {
        self.inner.required.iter().map(String::as_str).collect()
    }

    /// The JSON schema of the whole argument object.
    pub fn parameters_schema(&self) -> Value {
        serde_json::json!({
            "type": "object",
            "properties": self.inner.args,
            "required": self.required(),
        })
    }

    /// The tool as an OpenAI-style function spec (`{"type": "function", ...}`), as DSPy's
    /// `format_as_litellm_function_call` writes it.
    pub fn function_spec(&self) -> Value {
        serde_json::json!({
            "type": "function",
            "function": {
                "name": self.inner.name,
                "description": self.inner.desc,
                "parameters": self.parameters_schema(),
            }
        })
    }

    /// The tool as data: name, description and argument schema, what a `Tool`-typed
    /// signature input holds and what native function calling sends.
    pub fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: self.inner.name.clone(),
            description: self.inner.desc.clone(),
            parameters: self.parameters_schema(),
        }
    }

    /// Checks and converts `args` against the argument schemas, then runs the tool
    /// (under its timeout, a panic caught).
    pub async fn call(&self, args: Value) -> Result<Value, ToolError> {
        let args = self.check_args(args)?;
        let name = &self.inner.name;
        let run = AssertUnwindSafe((self.inner.run)(args)).catch_unwind();
        let outcome = match self.inner.timeout {
            Some(after) => match tokio::time::timeout(after, run).await {
                Ok(o) => o,
                Err(_) => {
                    return Err(ToolError::TimedOut {
                        tool: name.clone(),
                        after,
                    });
                }
            },
            None => run.await,
        };
        match outcome {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(message)) => Err(ToolError::Failed {
                tool: name.clone(),
                message,
            }),
            Err(panic) => Err(ToolError::Panicked {
                tool: name.clone(),
                message: panic_message(panic.as_ref()),
            }),
        }
    }

    /// [`Tool::call`] inside a `TOOL` span (name, arguments, result or error).
    pub async fn call_traced(&self, ctx: &Ctx, args: Value) -> Result<Value, ToolError> {
        let span = ctx.start_span(self.inner.name.clone(), || StartData::Tool {
            tool: Arc::from(self.inner.name.as_str()),
            args: Arc::new(args.clone()),
        });
        let result = self.call(args).await;
        span.end_with(|| {
            EndData::Tool(match &result {
                Ok(v) => Ok(Arc::new(v.clone())),
                Err(e) => Err(ErrorInfo::new("tool", e.to_string())),
            })
        });
        result
    }

    /// The arguments, each checked (and converted, e.g. `"3"` to `3`) against its
    /// schema, in the schemas' order.
    pub fn check_args(&self, args: Value) -> Result<Map<String, Value>, ToolError> {
        let tool = &self.inner.name;
        let given = match args {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => {
                return Err(ToolError::NotAnObject {
                    tool: tool.clone(),
                    got: short(&other),
                });
            }
        };
        if let Some(k) = given.keys().find(|k| !self.inner.args.contains_key(*k)) {
            return Err(ToolError::UnknownArg {
                tool: tool.clone(),
                arg: k.clone(),
            });
        }
        let mut out = Map::new();
        for (name, schema) in &self.inner.args {
            match given.get(name) {
                Some(v) => {
                    let checked = crate::adapter::coerce_to_schema(v, schema).map_err(|m| {
                        ToolError::InvalidArg {
                            tool: tool.clone(),
                            arg: name.clone(),
                            message: m,
                        }
                    })?;
                    out.insert(name.clone(), checked);
                }
                None => match schema.get("default") {
                    Some(d) => {
                        out.insert(name.clone(), d.clone());
                    }
                    None if self.inner.required.contains(name) => {
                        return Err(ToolError::MissingArg {
                            tool: tool.clone(),
                            arg: name.clone(),
                        });
                    }
                    None => {}
                },
            }
        }
        Ok(out)
    }
}

/// DSPy's `str(tool)`, the line ReAct lists it by: `name, whose description is
/// <desc>...</desc>. It takes arguments {...}.` (arguments as a Python dict).
impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&tool_line(
            &self.inner.name,
            self.inner.desc.as_deref(),
            &self.inner.args,
        ))
    }
}

/// DSPy's `str(tool)` from a tool's parts (an empty description counts as none, as
/// Python's truthiness has it).
pub(crate) fn tool_line(name: &str, desc: Option<&str>, args: &Map<String, Value>) -> String {
    let desc = match desc.filter(|d| !d.is_empty()) {
        Some(d) => format!(", whose description is <desc>{d}</desc>.").replace('\n', "  "),
        None => ".".into(),
    };
    let args = py_repr(&Value::Object(args.clone()));
    format!("{name}{desc} It takes arguments {args}.")
}

/// The specs of `tools` as the JSON value of a `list[Tool]` signature input.
///
/// ```
/// use sigil::data::Example;
/// use sigil::tool::{Tool, specs_of};
/// let add = Tool::new("add", "Add.", serde_json::json!({"a": {"type": "integer"}}),
///     |_| async { Ok::<_, String>(0) });
/// let inputs = Example::new().input("question", "1 + 1?").input("tools", specs_of(&[add]));
/// assert_eq!(inputs.get("tools").unwrap()[0]["name"], "add");
/// ```
pub fn specs_of(tools: &[Tool]) -> Value {
    Value::Array(
        tools
            .iter()
            .map(|t| serde_json::to_value(t.spec()).unwrap_or(Value::Null))
            .collect(),
    )
}

impl fmt::Debug for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.inner.name)
            .field("desc", &self.inner.desc)
            .field("args", &self.inner.args)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

fn to_result<R: Serialize, E: fmt::Display>(r: Result<R, E>) -> Result<Value, String> {
    match r {
        Ok(v) => serde_json::to_value(v).map_err(|e| format!("the result is not JSON: {e}")),
        Err(e) => Err(e.to_string()),
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".into()
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        s.chars().take(77).collect::<String>() + "..."
    } else {
        s
    }
}

/// A description, or none for an empty one.
fn non_empty(desc: String) -> Option<String> {
    (!desc.is_empty()).then_some(desc)
}

/// The arguments without a `default`.
fn without_default(args: &Map<String, Value>) -> Vec<String> {
    args.iter()
        .filter(|(_, s)| s.get("default").is_none())
        .map(|(k, _)| k.clone())
        .collect()
}

/// The argument schemas of `A`'s fields and the required ones.
fn arg_schemas<A: schemars::JsonSchema>() -> (Map<String, Value>, Vec<String>) {
    let root = serde_json::to_value(schemars::schema_for!(A)).unwrap_or(Value::Null);
    schema_args(&root)
}

/// A JSON schema of an argument object as argument schemas (`$ref`s to its definitions
/// written out, as DSPy resolves them) and the required arguments.
pub fn schema_args(schema: &Value) -> (Map<String, Value>, Vec<String>) {
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let args: Map<String, Value> = props
        .into_iter()
        .map(|(k, v)| (k, inline_refs(&v, schema, 0)))
        .collect();
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .filter(|k| args.contains_key(*k))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    (args, required)
}

fn inline_refs(v: &Value, root: &Value, depth: usize) -> Value {
    if depth > 32 {
        return v.clone();
    }
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                let target = r
                    .strip_prefix("#/")
                    .and_then(|p| p.split('/').try_fold(root, |v, seg| v.get(seg)));
                if let Some(t) = target {
                    return inline_refs(t, root, depth + 1);
                }
            }
            Value::Object(
                m.iter()
                    .map(|(k, x)| (k.clone(), inline_refs(x, root, depth + 1)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|x| inline_refs(x, root, depth + 1))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
#[path = "tool_tests.rs"]
mod tests;
