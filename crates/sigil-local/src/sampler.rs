//! Token sampling: greedy, temperature, top-p, seeded.

/// Index of the largest logit (first one on ties, as llama.cpp's greedy sampler).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    let mut bv = f32::NEG_INFINITY;
    for (i, &v) in logits.iter().enumerate() {
        if v > bv {
            bv = v;
            best = i;
        }
    }
    best as u32
}

/// SplitMix64: small, seedable, good enough for sampling.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How to pick the next token.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    /// 0 (or less) means greedy.
    pub temperature: f32,
    /// Nucleus mass in (0, 1]; 1 keeps every token.
    pub top_p: f32,
}

/// Picks a token among `candidates` (token ids with their logits): greedy when the
/// temperature is 0, else softmax at that temperature restricted to the top-p nucleus.
/// Returns `None` only for an empty candidate list.
pub fn sample(candidates: &mut [(u32, f32)], p: &SamplingParams, rng: &mut Rng) -> Option<u32> {
    if candidates.is_empty() {
        return None;
    }
    if p.temperature <= 0.0 || !p.temperature.is_finite() {
        let mut best = candidates[0];
        for &c in candidates.iter() {
            if c.1 > best.1 || (c.1 == best.1 && c.0 < best.0) {
                best = c;
            }
        }
        return Some(best.0);
    }
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mx = candidates[0].1;
    let mut probs: Vec<f64> = candidates
        .iter()
        .map(|c| (((c.1 - mx) / p.temperature) as f64).exp())
        .collect();
    let total: f64 = probs.iter().sum();
    let top_p = if p.top_p > 0.0 && p.top_p < 1.0 {
        p.top_p as f64
    } else {
        1.0
    };
    let mut keep = probs.len();
    let mut cum = 0.0;
    for (i, pr) in probs.iter().enumerate() {
        cum += pr / total;
        if cum >= top_p {
            keep = i + 1;
            break;
        }
    }
    probs.truncate(keep);
    let kept: f64 = probs.iter().sum();
    let mut r = rng.next_f64() * kept;
    for (i, pr) in probs.iter().enumerate() {
        if r < *pr {
            return Some(candidates[i].0);
        }
        r -= pr;
    }
    Some(candidates[keep - 1].0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_and_seeded_sampling() {
        let mut c = vec![(0, 1.0), (1, 3.0), (2, 2.0)];
        let greedy = SamplingParams {
            temperature: 0.0,
            top_p: 1.0,
        };
        assert_eq!(sample(&mut c, &greedy, &mut Rng::new(1)), Some(1));
        let hot = SamplingParams {
            temperature: 1.0,
            top_p: 1.0,
        };
        let draw = |seed| {
            let mut r = Rng::new(seed);
            (0..20)
                .map(|_| sample(&mut c.clone(), &hot, &mut r).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert!(
            draw(7).iter().any(|&t| t != 1),
            "temperature 1 should sometimes pick others"
        );
        // A tiny nucleus keeps only the best token.
        let nucleus = SamplingParams {
            temperature: 1.0,
            top_p: 0.01,
        };
        let mut r = Rng::new(3);
        assert!((0..20).all(|_| sample(&mut c.clone(), &nucleus, &mut r) == Some(1)));
        assert_eq!(sample(&mut [], &hot, &mut r), None);
    }
}
