//! Wall-clock sources for request signing (`Date` header). The core never reads a clock; the
//! driver supplies one: the system clock in production, a virtual one under simulation.

use maxc_core::time::WallClock;

/// Something that tells the current wall-clock time.
pub trait WallClockSource: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> WallClock;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemWallClock;

impl WallClockSource for SystemWallClock {
    fn now(&self) -> WallClock {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        WallClock { unix_millis: ms }
    }
}

/// A fixed wall clock (tests).
#[derive(Debug, Clone, Copy)]
pub struct FixedWallClock(pub WallClock);

impl WallClockSource for FixedWallClock {
    fn now(&self) -> WallClock {
        self.0
    }
}
