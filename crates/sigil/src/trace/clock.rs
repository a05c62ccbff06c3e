//! The tracing clock: wall-clock nanoseconds, read from the CPU's time-stamp counter
//! (through `quanta`) between system-clock reads.
//!
//! A `Predict` call reads the time at four boundaries, and every span reads it twice.
//! The system clock costs about 25 ns a read here (a vDSO call and a conversion); the
//! counter costs a few. Each thread anchors the counter to the system clock and trusts
//! it for [`COUNTER_SPAN_NS`] after the anchor, so the counter's calibration error
//! (parts per million) moves a time by a few nanoseconds at most; a later read
//! re-anchors. At an anchor the system clock is read before the counter, so
//! counter-derived times lag true time by the nanoseconds between the two reads
//! rather than lead it. Times never go backwards on a thread. `quanta` falls back to
//! the monotonic clock where the counter is not usable.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// How long after a system-clock read the counter is trusted (100 µs).
const COUNTER_SPAN_NS: u64 = 100_000;

fn counter() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

fn system_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[derive(Clone, Copy)]
struct Anchor {
    raw: u64,
    ns: u64,
    /// The last time this thread was given.
    last: u64,
}

thread_local! {
    static ANCHOR: Cell<Anchor> = const { Cell::new(Anchor { raw: 0, ns: 0, last: 0 }) };
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> u64 {
    let c = counter();
    let raw = c.raw();
    ANCHOR
        .try_with(|cell| {
            let mut a = cell.get();
            let d = c.delta_as_nanos(a.raw, raw);
            let t = if a.ns != 0 && d < COUNTER_SPAN_NS {
                a.ns + d
            } else {
                a.ns = system_ns();
                a.raw = c.raw();
                a.ns
            };
            a.last = a.last.max(t);
            cell.set(a);
            a.last
        })
        // A thread being torn down.
        .unwrap_or_else(|_| system_ns())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_system_clock_and_never_goes_back() {
        let before = system_ns();
        let t0 = now_ns();
        let after = system_ns();
        assert!(
            before <= t0 + 1_000 && t0 <= after + 1_000,
            "{before} {t0} {after}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        let t = now_ns();
        let b = system_ns();
        assert!(t <= b + 1_000 && t + 1_000_000 >= b, "{t} vs {b}");
        assert!(t >= t0 + 19_000_000);
        let mut last = t;
        for _ in 0..100_000 {
            let n = now_ns();
            assert!(n >= last);
            last = n;
        }
        // Counter-derived times stay on the system clock.
        let s = system_ns();
        assert!(last <= s + 1_000 && last + 1_000_000 >= s, "{last} vs {s}");
    }
}
