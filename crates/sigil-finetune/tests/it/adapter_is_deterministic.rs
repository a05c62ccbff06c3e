//! The same seed and data give byte-identical adapter files; another seed does not.

use sigil_finetune::{LoraConfig, TrainOptions, adapter_bytes, train};

use crate::common::{base, tiny_config, tiny_data};

fn run(cfg: &LoraConfig) -> Vec<u8> {
    let adapter = train(&base(), cfg, &tiny_data(), TrainOptions::default()).expect("trains");
    adapter_bytes(&adapter, "llama").expect("bytes")
}

#[test]
fn same_seed_same_bytes() {
    let cfg = LoraConfig {
        epochs: 1,
        ..tiny_config()
    };
    let first = run(&cfg);
    assert_eq!(first, run(&cfg));
    assert_ne!(first, run(&LoraConfig { seed: 8, ..cfg }));
}
