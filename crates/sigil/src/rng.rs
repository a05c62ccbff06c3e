//! A small seeded generator whose sequence never changes between releases.
//!
//! Compiled artifacts must be reproducible byte for byte from a seed, so shuffles and
//! optimizer choices use this fixed algorithm (SplitMix64) rather than a library RNG
//! whose stream may change with a dependency upgrade. Use it to shuffle or sample
//! your own data the same way on every run.

/// SplitMix64: the same seed gives the same sequence, on every platform and release.
///
/// ```
/// use sigil::rng::SeededRng;
/// let mut items = vec![1, 2, 3, 4, 5];
/// SeededRng::new(7).shuffle(&mut items);
/// let mut again = vec![1, 2, 3, 4, 5];
/// SeededRng::new(7).shuffle(&mut again);
/// assert_eq!(items, again);
/// ```
#[derive(Clone, Debug)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SeededRng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (n > 0), without modulo bias.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        let n = n as u64;
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return (x % n) as usize;
            }
        }
    }

    /// Draws from `below` (`Below::new(n).draw(rng)` equals `rng.below(n)`), for loops
    /// that draw many indices under the same bound.
    pub(crate) fn draw(&mut self, below: &Below) -> usize {
        loop {
            let x = self.next_u64();
            if x < below.zone {
                return below.rem(x) as usize;
            }
        }
    }

    /// One draw from a single output: `None` when that output is rejected (the caller
    /// then continues with [`SeededRng::draw`], which gives the same sequence).
    pub(crate) fn draw_one(&mut self, below: &Below) -> Option<usize> {
        let x = self.next_u64();
        (x < below.zone).then(|| below.rem(x) as usize)
    }

    /// This generator advanced by `outputs` calls of `next_u64` (SplitMix64's state
    /// only adds a constant per output, so this takes no time).
    pub(crate) fn advanced(&self, outputs: u64) -> SeededRng {
        SeededRng {
            state: self
                .state
                .wrapping_add(0x9E37_79B9_7F4A_7C15u64.wrapping_mul(outputs)),
        }
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// A precomputed bound for [`SeededRng::draw`]: the same numbers as
/// [`SeededRng::below`], with the two 64-bit divisions of each draw replaced by
/// multiplications (the remainder by a constant computed from a 128-bit reciprocal,
/// after Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Below {
    n: u64,
    zone: u64,
    /// `ceil(2^128 / n)`, or 0 when `n == 1`.
    reciprocal: u128,
}

impl Below {
    /// Panics if `n == 0`, as `below(0)` does.
    pub(crate) fn new(n: usize) -> Below {
        assert!(n > 0, "below(0)");
        let n = n as u64;
        Below {
            n,
            zone: u64::MAX - (u64::MAX % n),
            reciprocal: if n == 1 { 0 } else { u128::MAX / n as u128 + 1 },
        }
    }

    /// `x % n` without a division.
    fn rem(&self, x: u64) -> u64 {
        if self.n == 1 {
            return 0;
        }
        let low = self.reciprocal.wrapping_mul(x as u128);
        let bottom = ((low as u64) as u128 * self.n as u128) >> 64;
        let top = (low >> 64) * self.n as u128;
        ((top + bottom) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draw_matches_below() {
        let bounds = [
            1usize,
            2,
            3,
            7,
            10,
            30,
            200,
            10_000,
            65_537,
            1 << 20,
            (1 << 31) + 11,
            usize::MAX / 3,
            (usize::MAX >> 1) + 1,
            usize::MAX - 1,
            usize::MAX,
        ];
        for &n in &bounds {
            let b = Below::new(n);
            let (mut r1, mut r2) = (SeededRng::new(n as u64), SeededRng::new(n as u64));
            for _ in 0..2000 {
                assert_eq!(r1.below(n), r2.draw(&b), "n = {n}");
            }
        }
        let mut r = SeededRng::new(5);
        for _ in 0..20_000 {
            let (x, n) = (r.next_u64(), r.next_u64() >> (r.next_u64() % 64));
            if n > 1 {
                assert_eq!(Below::new(n as usize).rem(x), x % n, "{x} % {n}");
            }
        }
    }

    #[test]
    fn advanced_skips_outputs() {
        let mut r = SeededRng::new(42);
        let ahead = r.advanced(1000);
        for _ in 0..1000 {
            r.next_u64();
        }
        assert_eq!(r.next_u64(), ahead.clone().next_u64());
        let b = Below::new(10);
        let (mut a, mut c) = (SeededRng::new(3), SeededRng::new(3));
        for _ in 0..1000 {
            assert_eq!(a.draw_one(&b), Some(c.draw(&b)));
        }
    }

    #[test]
    fn sequence_is_fixed() {
        let mut r = SeededRng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        let mut a: Vec<u32> = (0..10).collect();
        SeededRng::new(7).shuffle(&mut a);
        let mut b: Vec<u32> = (0..10).collect();
        SeededRng::new(7).shuffle(&mut b);
        assert_eq!(a, b);
        assert_ne!(a, (0..10).collect::<Vec<_>>());
    }
}
