//! Training examples: a chat and the assistant's reply, tokenized exactly as
//! `sigil-local` renders a prompt at inference, with the reply as the only target.

use sigil::lm::Message;
use sigil_local::template::ChatTemplate;
use sigil_local::tokenizer::Tokenizer;

use crate::error::Result;

/// One supervised example: the conversation so far and the reply to learn.
#[derive(Clone, Debug)]
pub struct ChatExample {
    /// The messages before the reply (system, user, ...).
    pub messages: Vec<Message>,
    /// The assistant's reply, without the end-of-turn token.
    pub completion: String,
}

impl ChatExample {
    /// A one-turn example: a user message and its reply.
    pub fn user(prompt: &str, completion: &str) -> ChatExample {
        ChatExample {
            messages: vec![Message::user(prompt)],
            completion: completion.to_string(),
        }
    }
}

/// An example as tokens: `tokens[..prompt_len]` is context, the rest is the target.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EncodedExample {
    /// Prompt tokens then reply tokens (ending in the end-of-turn token).
    pub tokens: Vec<u32>,
    /// How many leading tokens are prompt (never a loss target).
    pub prompt_len: usize,
}

impl EncodedExample {
    /// Tokenizes `ex`: the prompt through the model's chat template with the generation
    /// prompt (as `sigil-local` does before generating), then the reply and the
    /// end-of-turn token the model must learn to stop with. Keeps the last
    /// `max_len` tokens of a longer example.
    pub fn new(
        ex: &ChatExample,
        tokenizer: &Tokenizer,
        template: &ChatTemplate,
        max_len: usize,
    ) -> Result<EncodedExample> {
        let prompt = template.render(&ex.messages)?;
        let mut tokens = tokenizer.encode(&prompt, true);
        let mut prompt_len = tokens.len();
        // The reply is encoded on its own without a BOS, as the model emits it.
        let reply_start = tokens.len();
        tokens.extend(tokenizer.encode(&ex.completion, false));
        if tokenizer.add_bos && tokenizer.bos.is_some() && tokens.len() > reply_start {
            tokens.remove(reply_start);
        }
        tokens.push(tokenizer.eos);
        if tokens.len() > max_len {
            let cut = tokens.len() - max_len;
            tokens.drain(..cut);
            prompt_len = prompt_len.saturating_sub(cut).max(1);
        }
        Ok(EncodedExample { tokens, prompt_len })
    }

    /// Number of target tokens.
    pub fn n_targets(&self) -> usize {
        self.tokens.len() - self.prompt_len
    }
}
