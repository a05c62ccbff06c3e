//! The clock of one traced call: the system clock, with the CPU's time-stamp counter
//! (through `quanta`) for the boundaries that come soon after a system-clock read.
//!
//! A `Predict` call reads the time at four boundaries. The system clock costs about
//! 25 ns a read here (a vDSO call and a conversion); the counter costs a few. The
//! counter is used only within [`COUNTER_SPAN_NS`] of the last system-clock read, so
//! its calibration error (parts per million) moves a boundary by at most a few
//! nanoseconds; a later boundary reads the system clock again and re-anchors. The
//! system clock is read before the counter, so counter-derived times lag true time by
//! the few nanoseconds between the reads rather than lead it: a span never ends after
//! a parent that reads the system clock later. `quanta` falls back to the monotonic
//! clock where the counter is not usable.

use std::sync::OnceLock;

use super::hooks::now_ns;

/// How long after a system-clock read the counter is trusted (100 µs).
const COUNTER_SPAN_NS: u64 = 100_000;

fn counter() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

/// A call's clock: its last system-clock read and the counter at that moment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallClock {
    anchor_raw: u64,
    anchor_ns: u64,
}

impl CallClock {
    /// Starts a call's clock now.
    pub(crate) fn start() -> Self {
        let anchor_ns = now_ns();
        CallClock {
            anchor_raw: counter().raw(),
            anchor_ns,
        }
    }

    /// Nanoseconds since the Unix epoch when the clock started.
    pub(crate) fn start_ns(&self) -> u64 {
        self.anchor_ns
    }

    /// Nanoseconds since the Unix epoch, now.
    pub(crate) fn now_ns(&mut self) -> u64 {
        let c = counter();
        let d = c.delta_as_nanos(self.anchor_raw, c.raw());
        if d < COUNTER_SPAN_NS {
            return self.anchor_ns + d;
        }
        *self = CallClock::start();
        self.anchor_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_system_clock() {
        let before = now_ns();
        let mut clock = CallClock::start();
        let after = now_ns();
        assert!(before <= clock.start_ns() && clock.start_ns() <= after);
        std::thread::sleep(std::time::Duration::from_millis(20));
        // 20 ms on, past the counter's span: the system clock again.
        let t = clock.now_ns();
        let b = now_ns();
        assert!(t <= b && t + 1_000_000 >= b, "{t} vs {b}");
        assert!(t >= after + 19_000_000);
        // Soon after a read, the counter: never ahead of the system clock.
        let soon = clock.now_ns();
        assert!(soon >= t && soon <= now_ns());
    }
}
