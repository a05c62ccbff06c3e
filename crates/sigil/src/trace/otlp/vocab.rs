//! Span attributes in the three vocabularies backends read natively: OpenTelemetry
//! GenAI (`gen_ai.*`, already on Sigil's spans), OpenInference (Arize Phoenix) and
//! Langfuse.

use super::super::span::{AttrValue, Span, SpanKind, SpanStatus, keys};

fn s(v: impl Into<String>) -> AttrValue {
    AttrValue::Str(v.into())
}

/// OpenInference's span kind for a Sigil span.
pub(crate) fn openinference_kind(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Lm => "LLM",
        SpanKind::Tool => "TOOL",
        SpanKind::Retrieval => "RETRIEVER",
        SpanKind::Evaluate => "EVALUATOR",
        SpanKind::Module
        | SpanKind::Format
        | SpanKind::Parse
        | SpanKind::Compile
        | SpanKind::Trial
        | SpanKind::Finetune
        | SpanKind::Epoch => "CHAIN",
    }
}

/// Langfuse's observation type for a Sigil span.
pub(crate) fn langfuse_type(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Lm => "generation",
        SpanKind::Tool => "tool",
        SpanKind::Retrieval => "retriever",
        SpanKind::Evaluate => "evaluator",
        SpanKind::Module => "chain",
        SpanKind::Format
        | SpanKind::Parse
        | SpanKind::Compile
        | SpanKind::Trial
        | SpanKind::Finetune
        | SpanKind::Epoch => "span",
    }
}

/// The span's input and output as text, and whether they are JSON.
/// A value as text and whether it is JSON.
type Text = Option<(String, bool)>;

fn input_output(span: &Span) -> (Text, Text) {
    let get = |k: &str| span.attr_str(k).map(str::to_string);
    match span.kind {
        SpanKind::Lm => (
            get(keys::GEN_AI_INPUT_MESSAGES).map(|v| (v, true)),
            get(keys::LM_OUTPUT).map(|v| (v, false)),
        ),
        SpanKind::Parse => (
            get(keys::PARSE_COMPLETION).map(|v| (v, false)),
            get(keys::PARSE_FIELDS)
                .map(|v| (v, true))
                .or_else(|| get(keys::PARSE_ERROR).map(|v| (v, false))),
        ),
        SpanKind::Tool => (
            get(keys::TOOL_ARGS).map(|v| (v, true)),
            get(keys::TOOL_RESULT).map(|v| (v, true)),
        ),
        SpanKind::Retrieval => (
            get(keys::RETRIEVAL_QUERY).map(|v| (v, false)),
            get(keys::RETRIEVAL_PASSAGES).map(|v| (v, true)),
        ),
        SpanKind::Trial => (get(keys::TRIAL_CANDIDATE).map(|v| (v, true)), None),
        SpanKind::Compile => (get(keys::COMPILE_CONFIG).map(|v| (v, true)), None),
        SpanKind::Finetune => (
            get(keys::FINETUNE_SETTINGS).map(|v| (v, true)),
            get(keys::FINETUNE_MODEL).map(|v| (v, false)),
        ),
        _ => (
            get(keys::INPUTS).map(|v| (v, true)),
            get(keys::OUTPUTS).map(|v| (v, true)),
        ),
    }
}

/// Every attribute to export for `span`: its own (Sigil and GenAI names) plus the
/// OpenInference and Langfuse names.
pub(crate) fn export_attributes(span: &Span) -> Vec<(String, AttrValue)> {
    let mut out: Vec<(String, AttrValue)> = span
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut put = |k: &str, v: AttrValue| out.push((k.to_string(), v));
    put("sigil.span.kind", s(span.kind.as_str()));

    // OpenInference
    put("openinference.span.kind", s(openinference_kind(span.kind)));
    let (input, output) = input_output(span);
    let mime = |json: bool| {
        s(if json {
            "application/json"
        } else {
            "text/plain"
        })
    };
    if let Some((v, json)) = &input {
        put("input.value", s(v.clone()));
        put("input.mime_type", mime(*json));
    }
    if let Some((v, json)) = &output {
        put("output.value", s(v.clone()));
        put("output.mime_type", mime(*json));
    }
    if span.kind == SpanKind::Lm {
        if let Some(m) = span.attr_str(keys::GEN_AI_REQUEST_MODEL) {
            put("llm.model_name", s(m));
        }
        if let Some(p) = span.attr_str(keys::GEN_AI_PROVIDER) {
            put("llm.provider", s(p));
            put("llm.system", s(p));
        }
        let mut params = serde_json::Map::new();
        for (k, name) in [
            (keys::GEN_AI_TEMPERATURE, "temperature"),
            (keys::GEN_AI_MAX_TOKENS, "max_tokens"),
            (keys::GEN_AI_TOP_P, "top_p"),
            (keys::GEN_AI_SEED, "seed"),
        ] {
            if let Some(v) = span.attr(k) {
                params.insert(name.into(), serde_json::to_value(v).unwrap_or_default());
            }
        }
        let params = serde_json::Value::Object(params).to_string();
        put("llm.invocation_parameters", s(params.clone()));
        let tokens = |k: &str| span.attr_i64(k);
        if let (Some(i), Some(o)) = (
            tokens(keys::GEN_AI_INPUT_TOKENS),
            tokens(keys::GEN_AI_OUTPUT_TOKENS),
        ) {
            put("llm.token_count.prompt", i.into());
            put("llm.token_count.completion", o.into());
            put("llm.token_count.total", (i + o).into());
            if let Some(c) = tokens(keys::GEN_AI_CACHED_TOKENS) {
                put("llm.token_count.prompt_details.cache_read", c.into());
            }
        }
        if let Some(c) = span.attr_f64(keys::LM_COST_USD) {
            put("llm.cost.total", c.into());
        }
        let messages = span
            .attr_str(keys::GEN_AI_INPUT_MESSAGES)
            .and_then(|m| serde_json::from_str::<Vec<serde_json::Value>>(m).ok())
            .unwrap_or_default();
        for (i, m) in messages.iter().enumerate() {
            let role = m.get("role").and_then(|v| v.as_str()).unwrap_or_default();
            let content = m
                .get("content")
                .and_then(|v| v.as_str())
                .unwrap_or_default();
            put(&format!("llm.input_messages.{i}.message.role"), s(role));
            put(
                &format!("llm.input_messages.{i}.message.content"),
                s(content),
            );
        }
        if let Some(text) = span.attr_str(keys::LM_OUTPUT) {
            put("llm.output_messages.0.message.role", s("assistant"));
            put("llm.output_messages.0.message.content", s(text));
        }
        let list = |k: &str| {
            span.attr_str(k)
                .and_then(|m| serde_json::from_str::<Vec<serde_json::Value>>(m).ok())
                .unwrap_or_default()
        };
        for (i, t) in list(keys::LM_TOOLS).iter().enumerate() {
            let schema = serde_json::json!({"type": "function", "function": t});
            put(
                &format!("llm.tools.{i}.tool.json_schema"),
                s(schema.to_string()),
            );
        }
        for (j, c) in list(keys::LM_TOOL_CALLS).iter().enumerate() {
            let at = format!("llm.output_messages.0.message.tool_calls.{j}.tool_call");
            let field = |k: &str| c.get(k).and_then(|v| v.as_str()).unwrap_or_default();
            if !field("id").is_empty() {
                put(&format!("{at}.id"), s(field("id")));
            }
            put(&format!("{at}.function.name"), s(field("name")));
            put(&format!("{at}.function.arguments"), s(field("arguments")));
        }

        // Langfuse generation fields
        if let Some(m) = span.attr_str(keys::GEN_AI_REQUEST_MODEL) {
            put("langfuse.observation.model.name", s(m));
        }
        put("langfuse.observation.model.parameters", s(params));
        if let (Some(i), Some(o)) = (
            tokens(keys::GEN_AI_INPUT_TOKENS),
            tokens(keys::GEN_AI_OUTPUT_TOKENS),
        ) {
            let mut usage = serde_json::json!({"input": i, "output": o, "total": i + o});
            if let Some(c) = tokens(keys::GEN_AI_CACHED_TOKENS) {
                usage["cache_read_input_tokens"] = c.into();
            }
            put("langfuse.observation.usage_details", s(usage.to_string()));
        }
        if let Some(c) = span.attr_f64(keys::LM_COST_USD) {
            put(
                "langfuse.observation.cost_details",
                s(serde_json::json!({"total": c}).to_string()),
            );
        }
    }
    let passages = match span.kind {
        SpanKind::Retrieval => span
            .attr_str(keys::RETRIEVAL_PASSAGES)
            .and_then(|p| serde_json::from_str::<Vec<serde_json::Value>>(p).ok())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    for (i, d) in passages.iter().enumerate() {
        let text = d
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| d.to_string());
        put(
            &format!("retrieval.documents.{i}.document.content"),
            s(text),
        );
    }
    if span.kind == SpanKind::Tool {
        if let Some(t) = span.attr_str(keys::GEN_AI_TOOL_NAME) {
            put("tool.name", s(t));
        }
        if let Some(a) = span.attr_str(keys::TOOL_ARGS) {
            put("tool.parameters", s(a));
        }
    }

    // Langfuse
    put("langfuse.observation.type", s(langfuse_type(span.kind)));
    if let Some((v, _)) = &input {
        put("langfuse.observation.input", s(v.clone()));
    }
    if let Some((v, _)) = &output {
        put("langfuse.observation.output", s(v.clone()));
    }
    if let SpanStatus::Error(m) = &span.status {
        put("langfuse.observation.level", s("ERROR"));
        put("langfuse.observation.status_message", s(m.clone()));
    }
    if span.parent_id.is_none() {
        let name = span
            .attr_str(keys::PROGRAM_NAME)
            .unwrap_or(&span.name)
            .to_string();
        put("langfuse.trace.name", s(name));
        if let Some((v, _)) = &input {
            put("langfuse.trace.input", s(v.clone()));
        }
        if let Some((v, _)) = &output {
            put("langfuse.trace.output", s(v.clone()));
        }
        if let Some(h) = span.attr_str(keys::PROGRAM_ARTIFACT_HASH) {
            put("langfuse.version", s(h));
        }
        let compiled = span
            .attr(keys::PROGRAM_COMPILED)
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        put("langfuse.trace.metadata.compiled", compiled.into());
        put(
            "langfuse.trace.tags",
            s(if compiled {
                r#"["sigil","compiled"]"#
            } else {
                r#"["sigil","uncompiled"]"#
            }),
        );
    }
    out
}
