//! `kind = "bootstrap_finetune"` and `kind = "better_together"` in a program file, on
//! the embedded model: the compile trains a LoRA adapter on the CPU, the artifact
//! records it (base and adapter hashes, settings, data, loss curve), `sigil show`
//! shows it, and `sigil eval --artifact` runs with it. Bad settings are refused
//! before anything trains.

use std::path::Path;

use crate::sigil_in as sigil;

const PROGRAM: &str = r#"
name = "intents_tuned"
[lm]
model = "local"
temperature = 0.0
max_tokens = 24
[[step]]
name = "classify"
signature = "text -> intent: enum[unlock_problem, billing_question, lost_item, report_damage, account_access, pricing_info]"
instructions = "Classify the customer's support message into one intent."
[data]
path = "data.jsonl"
inputs = ["text"]
split = { train = 8, val = 4, test = 6, seed = 3 }
[metric]
kind = "exact_match"
field = "intent"
"#;

const FINETUNE: &str = r#"[optimizer.finetune]
data = "labels"
epochs = 1
batch_size = 4
rank = 2
learning_rate = 0.001
out_dir = "adapters"
"#;

fn setup(d: &Path) {
    let data = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/data/bike_support_intents.jsonl"),
    )
    .unwrap();
    std::fs::write(d.join("data.jsonl"), data).unwrap();
}

#[test]
fn bootstrap_finetune_trains_an_adapter_that_the_artifact_records_and_eval_loads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    std::fs::write(
        d.join("ft.toml"),
        format!("{PROGRAM}[optimizer]\nkind = \"bootstrap_finetune\"\nseed = 2\n{FINETUNE}"),
    )
    .unwrap();
    let o = sigil(
        d,
        &["compile", "ft.toml", "--out", "ft.sigil.toml", "--json"],
    );
    assert!(o.status.success(), "{o}");
    let summary: serde_json::Value = serde_json::from_str(&o.stdout).expect("--json output");
    assert_eq!(summary["optimizer"], "BootstrapFinetune", "{summary}");
    assert!(summary["held_out"]["compiled"].is_object(), "{summary}");
    // The trained model ran: every held-out example was answered (an adapter the
    // engine cannot apply fails every call).
    assert_eq!(summary["held_out"]["compiled"]["errors"], 0, "{summary}");

    let art = std::fs::read_to_string(d.join("ft.sigil.toml")).unwrap();
    let v: toml::Value = toml::from_str(&art).unwrap();
    let ft = &v["finetuned"][0];
    assert_eq!(ft["trainer"].as_str(), Some("local-lora"), "{art}");
    assert_eq!(ft["paths"][0].as_str(), Some("classify"));
    let adapter = ft["adapter"].as_str().expect("an adapter file");
    assert!(
        Path::new(adapter).is_absolute() || d.join(adapter).is_file(),
        "{adapter}"
    );
    assert_eq!(ft["adapter_sha256"].as_str().map(str::len), Some(64));
    assert_eq!(ft["base_model_sha256"].as_str().map(str::len), Some(64));
    assert_eq!(ft["data"]["size"].as_integer(), Some(8), "{art}");
    assert_eq!(ft["loss_curve"].as_array().map(Vec::len), Some(1), "{art}");
    assert_eq!(ft["settings"]["epochs"].as_integer(), Some(1));

    let o = sigil(d, &["show", "ft.sigil.toml"]);
    assert!(o.status.success(), "{o}");
    assert!(o.stdout.contains("local-lora"), "{o}");

    let o = sigil(
        d,
        &["eval", "ft.toml", "--artifact", "ft.sigil.toml", "--json"],
    );
    assert!(o.status.success(), "{o}");
    let report: serde_json::Value = serde_json::from_str(&o.stdout).expect("--json output");
    assert_eq!(report["errors"], 0, "{report}");

    // A changed adapter file is refused, naming what the artifact expects.
    let adapter_path = if Path::new(adapter).is_absolute() {
        Path::new(adapter).to_path_buf()
    } else {
        d.join(adapter)
    };
    let mut bytes = std::fs::read(&adapter_path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&adapter_path, bytes).unwrap();
    let o = sigil(d, &["eval", "ft.toml", "--artifact", "ft.sigil.toml"]);
    assert!(!o.status.success(), "{o}");
    assert!(
        o.stderr
            .contains("is not the file the artifact was compiled with"),
        "{o}"
    );
}

#[test]
fn better_together_runs_its_strategy_and_records_the_best_stage() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    std::fs::write(
        d.join("bt.toml"),
        format!(
            "{PROGRAM}[optimizer]\nkind = \"better_together\"\nstrategy = \"p -> w\"\nprompt = \"labeled_few_shot\"\nmax_labeled_demos = 1\nseed = 2\n{FINETUNE}"
        ),
    )
    .unwrap();
    let o = sigil(
        d,
        &["compile", "bt.toml", "--out", "bt.sigil.toml", "--json"],
    );
    assert!(o.status.success(), "{o}");
    let summary: serde_json::Value = serde_json::from_str(&o.stdout).expect("--json output");
    assert_eq!(summary["optimizer"], "BetterTogether", "{summary}");
    assert!(o.stderr.contains("p -> w"), "every stage is reported: {o}");
    assert!(summary["val_compiled"].is_number(), "{summary}");
}

#[test]
fn bad_weight_settings_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let cases = [
        (
            "kind = \"better_together\"\nstrategy = \"p -> x\"\n",
            "optimizer.strategy",
        ),
        (
            "kind = \"bootstrap_finetune\"\nstrategy = \"p\"\n",
            "better_together setting",
        ),
        (
            "kind = \"better_together\"\nprompt = \"better_together\"\n",
            "optimizer.prompt",
        ),
        (
            "kind = \"bootstrap_finetune\"\n[optimizer.finetune]\ntargets = [\"attn_x\"]\n",
            "unknown matrix \"attn_x\"",
        ),
        (
            "kind = \"bootstrap_finetune\"\n[optimizer.finetune]\ndata = \"gold\"\n",
            "optimizer.finetune.data",
        ),
        (
            "kind = \"bootstrap_finetune\"\n[optimizer.finetune]\nrank = 0\n",
            "at least 1",
        ),
        (
            "kind = \"copro\"\n[optimizer.finetune]\nepochs = 1\n",
            "bootstrap_finetune / better_together setting",
        ),
    ];
    for (i, (table, want)) in cases.iter().enumerate() {
        let f = format!("bad{i}.toml");
        std::fs::write(d.join(&f), format!("{PROGRAM}[optimizer]\n{table}")).unwrap();
        let o = sigil(d, &["compile", &f, "--dry-run"]);
        assert!(!o.status.success(), "case {i} must fail: {o}");
        assert!(o.stderr.contains(want), "case {i} names {want:?}: {o}");
    }
    // A hosted LM without a fine-tuning API is refused too.
    let hosted = PROGRAM.replace(
        "model = \"local\"",
        "model = \"anthropic/claude-3-5-haiku-latest\"",
    );
    std::fs::write(
        d.join("anth.toml"),
        format!("{hosted}[optimizer]\nkind = \"bootstrap_finetune\"\n"),
    )
    .unwrap();
    let o = sigil(d, &["compile", "anth.toml", "--dry-run"]);
    assert!(!o.status.success(), "{o}");
    assert!(o.stderr.contains("neither"), "{o}");
}
