//! Trace and span ids: random-looking, unique per process run, cheap to make.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// A trace id (128 bits, as in W3C trace context and OTLP). Never zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TraceId(pub u128);

/// A span id, which is also the hook model's call id (64 bits). Never zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SpanId(pub u64);

impl TraceId {
    /// A new id, unique in this process.
    pub fn new() -> Self {
        TraceId((u128::from(next_u64()) << 64) | u128::from(next_u64()))
    }
    /// 32 lowercase hex digits, the OTLP/W3C text form.
    pub fn to_hex(self) -> String {
        format!("{:032x}", self.0)
    }
    /// Reads [`TraceId::to_hex`]'s form; `None` for anything else, or zero.
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 32 {
            return None;
        }
        u128::from_str_radix(s, 16)
            .ok()
            .filter(|v| *v != 0)
            .map(TraceId)
    }
    /// The 16 big-endian bytes, as OTLP sends them.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }
}

impl SpanId {
    /// A new id, unique in this process.
    pub fn new() -> Self {
        SpanId(next_u64())
    }
    /// 16 lowercase hex digits.
    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }
    /// Reads [`SpanId::to_hex`]'s form; `None` for anything else, or zero.
    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 16 {
            return None;
        }
        u64::from_str_radix(s, 16)
            .ok()
            .filter(|v| *v != 0)
            .map(SpanId)
    }
    /// The 8 big-endian bytes, as OTLP sends them.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
}

impl Default for TraceId {
    fn default() -> Self {
        TraceId::new()
    }
}
impl Default for SpanId {
    fn default() -> Self {
        SpanId::new()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}
impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A process-wide counter run through the splitmix64 finaliser, offset by a random
/// seed: unique within the process (the finaliser is a bijection) and unlikely to
/// collide across processes writing to the same store. Each thread takes blocks of
/// counter values, so an id costs no atomic operation.
fn next_u64() -> u64 {
    use std::cell::Cell;
    const BLOCK: u64 = 1024;
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        /// The next counter value of this thread's block and the block's end.
        static BLOCK_LEFT: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    let seed = *SEED.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        h.finish()
    });
    loop {
        let n = BLOCK_LEFT
            .try_with(|b| {
                let (mut next, mut end) = b.get();
                if next == end {
                    next = COUNTER.fetch_add(BLOCK, Ordering::Relaxed);
                    end = next + BLOCK;
                }
                b.set((next + 1, end));
                next
            })
            // A thread being torn down: take a single value.
            .unwrap_or_else(|_| COUNTER.fetch_add(1, Ordering::Relaxed));
        let mut z = seed.wrapping_add(n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        if z != 0 {
            return z;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_round_trip_hex() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            assert!(seen.insert(SpanId::new()));
        }
        let t = TraceId::new();
        assert_eq!(TraceId::from_hex(&t.to_hex()), Some(t));
        let s = SpanId::new();
        assert_eq!(SpanId::from_hex(&s.to_hex()), Some(s));
        assert_eq!(SpanId::from_hex("0000000000000000"), None);
    }
}
