//! Artifacts as the commands use them: run a program with one, rebuild a program from
//! one (its embedded program spec), and write one after a compile.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use sigil::artifact::{Artifact, file_sha256};
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
    let ctx = with_artifact(&session.built.ctx, &a)?;
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

/// `ctx` running with the artifact's instructions and demos, and with its fine-tuned
/// models: a LoRA adapter trained on the embedded model runs on the embedded engine
/// with the adapter applied, for the predictors it was trained for. The adapter and
/// base files must be the ones the artifact's hashes name.
pub fn with_artifact(ctx: &Ctx, a: &Artifact) -> anyhow::Result<Ctx> {
    let mut ctx = ctx.with_overlay(Some(Arc::new(a.overlay())));
    for f in &a.finetuned {
        let adapter = f.adapter.as_ref().ok_or_else(|| {
            anyhow!(
                "the artifact's model {} (trained with {}) has no adapter file;                  only LoRA adapters of the embedded model are loaded",
                f.model_id,
                f.trainer
            )
        })?;
        let (adapter, base) = (Path::new(adapter), Path::new(&f.base_model));
        for (file, want) in [(adapter, &f.adapter_sha256), (base, &f.base_model_sha256)] {
            if let Some(want) = want {
                let got = file_sha256(file).with_context(|| {
                    format!("reading {} (named by the artifact)", file.display())
                })?;
                anyhow::ensure!(
                    &got == want,
                    "{} is not the file the artifact was compiled with (sha256 {got}, expected {want})",
                    file.display()
                );
            }
        }
        let config = sigil_local::LocalConfig {
            lora: Some(adapter.to_path_buf()),
            ..sigil_local::LocalConfig::default()
        };
        let lm = sigil_local::LocalLm::load(base, config).with_context(|| {
            format!(
                "loading {} with the adapter {}",
                base.display(),
                adapter.display()
            )
        })?;
        let lm: Arc<dyn sigil::lm::Lm> = Arc::new(lm);
        for path in &f.paths {
            ctx = ctx.with_lm_for(path, lm.clone());
        }
    }
    Ok(ctx)
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

#[cfg(test)]
mod tests {
    use super::*;
    use sigil::artifact::{DatasetInfo, FinetunedSection};
    use sigil_local::gguf::{GgmlType, GgufWriter, MetaValue};

    fn model() -> std::path::PathBuf {
        std::path::PathBuf::from(std::env::var_os("SIGIL_TEST_MODEL").expect(
            "SIGIL_TEST_MODEL is not set: run the tests with scripts/test, which fetches the model",
        ))
    }

    /// A rank-1 adapter on block 0's `attn_q` that changes nothing (B is zero).
    fn zero_adapter(path: &Path) {
        let d = 576u64;
        let zeros = |n: u64| vec![0u8; (n * 4) as usize];
        let mut w = GgufWriter::new();
        w.meta("general.architecture", MetaValue::Str("llama".into()))
            .meta("general.type", MetaValue::Str("adapter".into()))
            .meta("adapter.type", MetaValue::Str("lora".into()))
            .meta("adapter.lora.alpha", MetaValue::F32(1.0))
            .tensor(
                "blk.0.attn_q.weight.lora_a",
                vec![d, 1],
                GgmlType::F32,
                zeros(d),
            )
            .tensor(
                "blk.0.attn_q.weight.lora_b",
                vec![1, d],
                GgmlType::F32,
                zeros(d),
            );
        std::fs::write(path, w.to_bytes()).unwrap();
    }

    fn artifact(adapter: Option<&Path>, adapter_sha256: Option<String>) -> Artifact {
        let mut a = Artifact::from_toml_str(
            "format_version = 1\nsigil_version = \"0.1.0\"\nadapter = \"chat\"\n",
            "test",
        )
        .unwrap();
        a.finetuned.push(FinetunedSection {
            paths: vec!["answer".into()],
            trainer: "local-lora".into(),
            model_id: "lora-test.gguf".into(),
            base_model: model().display().to_string(),
            base_model_sha256: None,
            adapter: adapter.map(|p| p.display().to_string()),
            adapter_sha256,
            job_id: None,
            settings: Default::default(),
            data: DatasetInfo {
                sha256: String::new(),
                size: 1,
            },
            loss_curve: Vec::new(),
        });
        a
    }

    fn error(ctx: &Ctx, a: &Artifact) -> String {
        match with_artifact(ctx, a) {
            Ok(_) => panic!("expected an error"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn a_fine_tuned_adapter_runs_on_its_predictors_and_a_changed_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lora-test.gguf");
        zero_adapter(&path);
        let base: Arc<dyn sigil::lm::Lm> =
            Arc::new(sigil_testkit::ScriptedLm::new(Vec::<String>::new()));
        let ctx = Ctx::from_arc(base.clone());
        let good = artifact(Some(&path), Some(file_sha256(&path).unwrap()));
        let tuned = with_artifact(&ctx, &good).unwrap();
        assert!(
            !Arc::ptr_eq(tuned.lm_for("answer"), &base),
            "the adapter's LM"
        );
        assert!(Arc::ptr_eq(tuned.lm_for("other"), &base));

        let changed = artifact(Some(&path), Some("0".repeat(64)));
        let err = error(&ctx, &changed);
        assert!(
            err.contains("is not the file the artifact was compiled with"),
            "{err}"
        );
        let none = artifact(None, None);
        let err = error(&ctx, &none);
        assert!(err.contains("has no adapter file"), "{err}");
        let missing = artifact(Some(&dir.path().join("gone.gguf")), Some("0".repeat(64)));
        let err = error(&ctx, &missing);
        assert!(err.contains("gone.gguf"), "{err}");
    }
}
