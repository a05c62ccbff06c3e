//! Artifacts as the commands use them: run a program with one, rebuild a program from
//! one (its embedded program spec), and write one after a compile.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use sigil::artifact::Artifact;
use sigil::module::Ctx;
use sigil::trace::ProgramInfo;

use crate::program::ProgramFile;
use crate::session::Session;

/// The session's context, with `artifact`'s prompts in scope when given (checked
/// against the program first), and a label saying which.
pub fn ctx_with_artifact(
    session: &Session,
    artifact: Option<&Path>,
) -> anyhow::Result<(Ctx, String)> {
    let name = session.file.spec.name.clone();
    let Some(path) = artifact else {
        return Ok((
            session.ctx(ProgramInfo::uncompiled(name)),
            "uncompiled".into(),
        ));
    };
    let a = load_checked(path, session)?;
    let ctx = with_artifact(&session.built.ctx, &a);
    let info = program_info(&name, &a)?.describe(&session.program, &ctx);
    Ok((
        ctx.with_program(info),
        format!("compiled: {}", path.display()),
    ))
}

/// Loads an artifact and checks it fits the session's program.
pub fn load_checked(path: &Path, session: &Session) -> anyhow::Result<Artifact> {
    let a = Artifact::load(path)?;
    a.check_against(&session.program).with_context(|| {
        format!(
            "{} does not fit {}",
            path.display(),
            session.file.path.display()
        )
    })?;
    Ok(a)
}

/// `ctx` running with the artifact's instructions and demos.
pub fn with_artifact(ctx: &Ctx, a: &Artifact) -> Ctx {
    ctx.with_overlay(Some(Arc::new(a.overlay())))
}

/// How traces say a program runs compiled with `a`.
pub fn program_info(name: &str, a: &Artifact) -> anyhow::Result<ProgramInfo> {
    let optimizer = a
        .optimizer
        .as_ref()
        .map(|o| o.name.clone())
        .unwrap_or_else(|| "imported".into());
    Ok(ProgramInfo::compiled(name, a.content_hash()?, optimizer))
}

/// The program file embedded in an artifact (written by `sigil compile`).
pub fn program_of(path: &Path, a: &Artifact) -> anyhow::Result<ProgramFile> {
    let table = a.program.clone().ok_or_else(|| {
        anyhow!(
            "{} holds no program spec (it was not compiled from a program file); \
             run it from Rust, or pass the program file",
            path.display()
        )
    })?;
    let text = toml::to_string(&table).context("re-encoding the embedded program")?;
    let pf = ProgramFile::parse(path, text)
        .with_context(|| format!("the program embedded in {}", path.display()))?;
    Ok(pf)
}

/// The program file as a TOML table, for embedding in an artifact.
pub fn program_table(pf: &ProgramFile) -> anyhow::Result<toml::Table> {
    toml::from_str(&pf.source).with_context(|| format!("re-reading {}", pf.path.display()))
}
