//! Prefix KV cache: KV states of earlier prompts, reused by later prompts that share a
//! token prefix (DSPy prompts share the system message and the demos). LRU, bounded by
//! the bytes the KV states hold.

use crate::model::KvCache;

struct Entry {
    tokens: Vec<u32>,
    kv: KvCache,
    bytes: usize,
    last_used: u64,
}

/// An LRU of prompt KV states.
pub struct PrefixCache {
    entries: Vec<Entry>,
    budget: usize,
    used: usize,
    clock: u64,
    kv_dim: usize,
}

impl PrefixCache {
    pub fn new(budget_bytes: usize, kv_dim: usize) -> PrefixCache {
        PrefixCache {
            entries: Vec::new(),
            budget: budget_bytes,
            used: 0,
            clock: 0,
            kv_dim,
        }
    }

    /// Bytes held.
    pub fn used_bytes(&self) -> usize {
        self.used
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The KV state of the longest cached prefix of `tokens` (at most `tokens.len() - 1`
    /// positions, so at least one token is left to compute logits from).
    pub fn lookup(&mut self, tokens: &[u32]) -> Option<KvCache> {
        let limit = tokens.len().saturating_sub(1);
        let mut best: Option<(usize, usize)> = None;
        for (i, e) in self.entries.iter().enumerate() {
            let n = e
                .tokens
                .iter()
                .zip(tokens)
                .take(limit)
                .take_while(|(a, b)| a == b)
                .count()
                .min(e.kv.len);
            if n > 0 && best.is_none_or(|(_, bn)| n > bn) {
                best = Some((i, n));
            }
        }
        let (i, n) = best?;
        self.clock += 1;
        self.entries[i].last_used = self.clock;
        Some(self.entries[i].kv.prefix(n, self.kv_dim))
    }

    /// Stores the KV state of `tokens` (evicting least recently used entries to fit).
    pub fn insert(&mut self, tokens: &[u32], kv: &KvCache) {
        let n = tokens.len().min(kv.len);
        if n == 0 {
            return;
        }
        // Already covered by an entry that has this whole prefix.
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.kv.len >= n && e.tokens.len() >= n && e.tokens[..n] == tokens[..n])
        {
            self.clock += 1;
            e.last_used = self.clock;
            return;
        }
        let kv = kv.prefix(n, self.kv_dim);
        let bytes = kv.size_bytes() + n * 4;
        if bytes > self.budget {
            return;
        }
        // Entries that are prefixes of the new one are now redundant.
        let mut i = 0;
        while i < self.entries.len() {
            let e = &self.entries[i];
            if e.tokens.len() <= n && tokens[..e.tokens.len()] == e.tokens[..] {
                self.used -= e.bytes;
                self.entries.swap_remove(i);
            } else {
                i += 1;
            }
        }
        while self.used + bytes > self.budget {
            let Some((idx, _)) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_used)
            else {
                break;
            };
            self.used -= self.entries[idx].bytes;
            self.entries.swap_remove(idx);
        }
        self.clock += 1;
        self.used += bytes;
        self.entries.push(Entry {
            tokens: tokens[..n].to_vec(),
            kv,
            bytes,
            last_used: self.clock,
        });
    }
}
