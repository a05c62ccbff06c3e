//! A loaded model: weights, tokenizer and chat template.

use std::path::Path;

use crate::error::{LocalError, Result};
use crate::gguf::Gguf;
use crate::model::{KvCache, Llama};
use crate::template::ChatTemplate;
use crate::tokenizer::Tokenizer;

/// Everything needed to run one GGUF model.
#[derive(Debug)]
pub struct Model {
    pub llama: Llama,
    pub tokenizer: Tokenizer,
    pub template: ChatTemplate,
    /// The model's name from its metadata (or file name).
    pub name: String,
}

impl Model {
    /// Loads a llama-architecture GGUF model.
    pub fn load(path: &Path) -> Result<Model> {
        if !path.exists() {
            return Err(LocalError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            });
        }
        let g = Gguf::open(path)?;
        let llama = Llama::from_gguf(&g)?;
        let (tokenizer, template) = text_side(&g)?;
        if tokenizer.vocab_size() != llama.cfg.vocab {
            return Err(LocalError::Malformed(format!(
                "tokenizer has {} tokens but the embedding has {} rows",
                tokenizer.vocab_size(),
                llama.cfg.vocab
            )));
        }
        let name = g
            .get_str("general.name")
            .map(str::to_string)
            .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "local".into());
        Ok(Model {
            llama,
            tokenizer,
            template,
            name,
        })
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache::new(&self.llama.cfg)
    }

    /// Greedy decoding of up to `n` tokens after `prompt`, stopping after an end-of-turn token.
    pub fn greedy(&self, prompt: &[u32], n: usize) -> Result<Vec<u32>> {
        let mut cache = self.new_cache();
        let mut logits = self.llama.forward(prompt, &mut cache)?;
        let mut out = Vec::new();
        for _ in 0..n {
            let tok = crate::sampler::argmax(&logits);
            out.push(tok);
            if self.tokenizer.stop_tokens.contains(&tok) {
                break;
            }
            logits = self.llama.forward(&[tok], &mut cache)?;
        }
        Ok(out)
    }
}

/// A GGUF model's tokenizer and chat template, without its weights (what a trainer
/// needs to tokenize examples exactly as the engine renders prompts).
pub fn text_side(g: &Gguf) -> Result<(Tokenizer, ChatTemplate)> {
    let tokenizer = Tokenizer::from_gguf(g)?;
    let tok_str = |id: Option<u32>| {
        id.map(|i| String::from_utf8_lossy(tokenizer.token_bytes(i)).into_owned())
            .unwrap_or_default()
    };
    let bos = g
        .get("tokenizer.ggml.bos_token_id")
        .and_then(|v| v.as_u64())
        .and_then(|i| {
            g.get("tokenizer.ggml.tokens")?
                .as_array()?
                .get(i as usize)?
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_else(|| tok_str(tokenizer.bos));
    let eos = g
        .get("tokenizer.ggml.tokens")
        .and_then(|t| {
            t.as_array()?
                .get(tokenizer.eos as usize)?
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default();
    let template = ChatTemplate::new(g.get_str("tokenizer.chat_template"), &bos, &eos)?;
    Ok((tokenizer, template))
}
