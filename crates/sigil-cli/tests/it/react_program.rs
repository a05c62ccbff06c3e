//! A program file with a `react` step whose tools come from a real MCP server
//! (PyPI's `mcp-server-time`, which scripts/test installs), on the embedded model:
//! `sigil run` shows the trajectory as steps, and `sigil compile` compiles both of the
//! agent's predictors. Bad MCP settings are errors naming the step.

use crate::sigil_in as sigil;

fn python() -> String {
    std::env::var("SIGIL_TEST_MCP_PYTHON").expect(
        "SIGIL_TEST_MCP_PYTHON is not set: run scripts/test, which installs the MCP servers",
    )
}

fn program(python: &str, tools: &str) -> String {
    format!(
        r#"
name = "time_agent"
[lm]
model = "local"
temperature = 0.0
max_tokens = 96
[[step]]
name = "agent"
module = "react"
signature = "question -> answer"
instructions = "Answer the question about times, using the tools."
max_iters = 2
[[step.mcp]]
command = [{python:?}, "-m", "mcp_server_time", "--local-timezone", "UTC"]
{tools}
[data]
path = "data.jsonl"
inputs = ["question"]
split = {{ train = 2, val = 2, test = 0, seed = 1 }}
[metric]
kind = "exact_match"
field = "answer"
[optimizer]
kind = "bootstrap_few_shot"
max_bootstrapped_demos = 1
max_labeled_demos = 1
budget = {{ max_calls = 24 }}
"#
    )
}

const DATA: &str = r#"{"question": "It is 12:00 in UTC. What time is it in Asia/Tokyo?", "answer": "21:00"}
{"question": "It is 08:00 in UTC. What time is it in Asia/Kolkata?", "answer": "13:30"}
{"question": "It is 10:00 in UTC. What time is it in Asia/Dubai?", "answer": "14:00"}
{"question": "It is 03:00 in UTC. What time is it in Asia/Tokyo?", "answer": "12:00"}
{"question": "It is 18:00 in UTC. What time is it in Asia/Kolkata?", "answer": "23:30"}
{"question": "It is 06:00 in UTC. What time is it in Asia/Dubai?", "answer": "10:00"}
"#;

#[test]
fn run_shows_the_trajectory_and_compile_compiles_both_predictors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("data.jsonl"), DATA).unwrap();
    std::fs::write(
        d.join("agent.toml"),
        program(&python(), r#"tools = ["convert_time"]"#),
    )
    .unwrap();
    let o = sigil(
        d,
        &[
            "run",
            "agent.toml",
            "-i",
            "question=It is 12:00 in UTC. What time is it in Asia/Tokyo?",
        ],
    );
    assert!(o.status.success(), "{o}");
    assert!(o.stdout.contains("trajectory:\n  [0] thought:"), "{o}");
    assert!(o.stdout.contains("      tool: "), "{o}");
    assert!(o.stdout.contains("answer: "), "{o}");
    let o = sigil(
        d,
        &[
            "run",
            "agent.toml",
            "--json",
            "-i",
            "question=It is 03:00 in UTC. Time in Asia/Tokyo?",
        ],
    );
    assert!(o.status.success(), "{o}");
    let pred: serde_json::Value = serde_json::from_str(o.stdout.trim()).expect("one JSON line");
    assert!(pred["trajectory"]["tool_name_0"].is_string(), "{pred}");

    let o = sigil(
        d,
        &[
            "compile",
            "agent.toml",
            "--out",
            "agent.sigil.toml",
            "--json",
        ],
    );
    assert!(o.status.success(), "{o}");
    let artifact = std::fs::read_to_string(d.join("agent.sigil.toml")).unwrap();
    assert!(artifact.contains("agent.react"), "{artifact}");
    assert!(artifact.contains("agent.extract"), "{artifact}");
}

#[test]
fn bad_mcp_settings_are_errors_naming_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("data.jsonl"), DATA).unwrap();
    std::fs::write(
        d.join("agent.toml"),
        program(&python(), r#"tools = ["teleport"]"#),
    )
    .unwrap();
    let o = sigil(d, &["run", "agent.toml", "-i", "question=x"]);
    assert!(!o.status.success(), "{o}");
    assert!(
        o.stderr.contains("step `agent`") && o.stderr.contains("no tool \"teleport\""),
        "{o}"
    );
    assert!(
        o.stderr.contains("convert_time"),
        "the error lists the server's tools: {o}"
    );
    let missing = program("/nonexistent/python", "");
    std::fs::write(d.join("missing.toml"), missing).unwrap();
    let o = sigil(d, &["run", "missing.toml", "-i", "question=x"]);
    assert!(!o.status.success(), "{o}");
    assert!(o.stderr.contains("cannot start the MCP server"), "{o}");
    let both = program(&python(), r#"url = "http://127.0.0.1:1/mcp""#);
    std::fs::write(d.join("both.toml"), both).unwrap();
    let o = sigil(d, &["run", "both.toml", "-i", "question=x"]);
    assert!(!o.status.success(), "{o}");
    assert!(
        o.stderr.contains("either `command` (stdio) or `url`"),
        "{o}"
    );
}
