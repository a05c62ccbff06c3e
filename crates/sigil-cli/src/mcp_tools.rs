//! Connects to the MCP servers each react step of a program file names and lists their
//! tools. The connections live as long as the session (a stdio server's process ends
//! with it).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context, bail};
use sigil::tool::Tool;
use sigil_mcp::McpClient;

use crate::program::ProgramFile;
use crate::program::spec::StepSpec;

/// The connected servers of a program and the tools of each react step.
#[derive(Default)]
pub struct McpTools {
    tools: HashMap<String, Vec<Tool>>,
    clients: Vec<McpClient>,
}

impl McpTools {
    /// Connects every react step's servers; a server that does not start, or a tool
    /// name it does not have, is an error naming the step.
    pub async fn open_all(pf: &ProgramFile) -> anyhow::Result<McpTools> {
        let mut out = McpTools::default();
        for step in &pf.spec.steps {
            if step.module.as_ref().map(|m| m.get_ref().as_str()) != Some("react") {
                continue;
            }
            let name = step.name.get_ref().clone();
            let mut tools = Vec::new();
            for (j, m) in step.mcp.iter().enumerate() {
                let client = match (&m.command, &m.url) {
                    (Some(cmd), _) => {
                        let (program, args) =
                            cmd.get_ref().split_first().context("empty command")?;
                        let mut c = tokio::process::Command::new(program);
                        c.args(args).current_dir(pf.resolve("."));
                        McpClient::stdio_command(c, sigil_mcp::DEFAULT_START_TIMEOUT).await
                    }
                    (None, Some(url)) => McpClient::http(url.get_ref()).await,
                    (None, None) => bail!("step `{name}`: mcp[{j}] has neither command nor url"),
                }
                .with_context(|| format!("step `{name}`: mcp[{j}]"))?;
                let client = match m.timeout {
                    Some(s) => client.with_call_timeout(Duration::from_secs_f64(s)),
                    None => client,
                };
                let mut listed = client.tools().await.with_context(|| {
                    format!("step `{name}`: listing the tools of {}", client.label())
                })?;
                if let Some(only) = &m.tools {
                    let available: Vec<String> =
                        listed.iter().map(|t| t.name().to_string()).collect();
                    for want in only.get_ref() {
                        if !available.contains(want) {
                            bail!(
                                "step `{name}`: {} has no tool {want:?}; it has: {}",
                                client.label(),
                                available.join(", ")
                            );
                        }
                    }
                    listed.retain(|t| only.get_ref().iter().any(|w| w == t.name()));
                }
                tools.extend(listed);
                out.clients.push(client);
            }
            out.tools.insert(name, tools);
        }
        Ok(out)
    }

    /// The tools of `step` (none for a step that is not a react step).
    pub fn for_step(&self, step: &StepSpec) -> Vec<Tool> {
        self.tools
            .get(step.name.get_ref())
            .cloned()
            .unwrap_or_default()
    }
}
