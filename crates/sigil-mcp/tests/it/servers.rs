//! Where the test servers are, from the environment `scripts/test` sets.

use std::path::PathBuf;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test, which installs the MCP servers")
    })
}

/// The Python with `mcp-server-time` and the MCP SDK installed.
pub fn python() -> String {
    var("SIGIL_TEST_MCP_PYTHON")
}

/// server-everything's entry script (`node <it> stdio|streamableHttp`).
pub fn everything() -> String {
    var("SIGIL_TEST_MCP_EVERYTHING")
}

/// The misbehaving test server's script.
pub fn misbehaving() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/servers/misbehaving.py")
}
