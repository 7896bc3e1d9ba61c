//! The daemon's notion of "now": the system clock, or a simulated clock
//! that starts at a given instant and runs at a given speed (0 = frozen).
//!
//! The engine never reads a clock; the frame loop asks this one once per
//! frame and passes the instant in. A simulated clock is how designers
//! preview a night at 60× and how tests pin the instant a frame shows.

use chrono::{DateTime, Duration, Utc};
use std::time::Instant;

#[derive(Debug, Clone, Copy)]
pub enum Clock {
    System,
    Simulated {
        start: DateTime<Utc>,
        origin: Instant,
        speed: f64,
    },
}

impl Clock {
    pub fn simulated(start: DateTime<Utc>, speed: f64) -> Clock {
        Clock::Simulated {
            start,
            origin: Instant::now(),
            speed,
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match *self {
            Clock::System => Utc::now(),
            Clock::Simulated {
                start,
                origin,
                speed,
            } => {
                let real = origin.elapsed().as_secs_f64() * speed;
                start + Duration::nanoseconds((real * 1e9) as i64)
            }
        }
    }

    /// The instant `when` (of the monotonic clock) on this clock: a
    /// frame rendered now for the deadline it will be sent at.
    pub(crate) fn at_instant(&self, when: Instant) -> DateTime<Utc> {
        let now = Instant::now();
        let ahead = when.saturating_duration_since(now).as_secs_f64()
            - now.saturating_duration_since(when).as_secs_f64();
        match *self {
            Clock::System => Utc::now() + Duration::nanoseconds((ahead * 1e9) as i64),
            Clock::Simulated { speed, .. } => {
                self.now() + Duration::nanoseconds((ahead * speed * 1e9) as i64)
            }
        }
    }

    /// How many simulated seconds pass per real second.
    pub(crate) fn speed(&self) -> f64 {
        match *self {
            Clock::System => 1.0,
            Clock::Simulated { speed, .. } => speed,
        }
    }
}

impl Clock {
    /// The instant a frame of the wall-clock grid shows: the grid point
    /// itself on the system clock (exact, so nodes agree to the byte); on a
    /// simulated clock, the simulated time at the frame's deadline (frames
    /// still go out on the wall-clock grid, their content follows the
    /// simulation's start and speed).
    pub(crate) fn frame_instant(&self, grid: DateTime<Utc>, deadline: Instant) -> DateTime<Utc> {
        match self {
            Clock::System => grid,
            Clock::Simulated { .. } => self.at_instant(deadline),
        }
    }
}

/// The wall-clock frame grid at a frame rate: frame `k` is at
/// `floor(k × 10⁹ / fps)` ns after the Unix epoch (integer arithmetic, so
/// every node computes the same instants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameGrid {
    fps: u32,
}

/// Nanoseconds since the Unix epoch of `t` (saturating far outside ±292
/// years, which no clock here reaches).
pub(crate) fn unix_nanos(t: DateTime<Utc>) -> i128 {
    t.timestamp() as i128 * 1_000_000_000 + t.timestamp_subsec_nanos() as i128
}

impl FrameGrid {
    pub(crate) fn new(fps: u32) -> FrameGrid {
        FrameGrid { fps: fps.max(1) }
    }

    pub fn fps(&self) -> u32 {
        self.fps
    }

    /// Frame `k`'s instant, in ns since the Unix epoch.
    pub(crate) fn nanos(&self, k: u64) -> i128 {
        (k as i128 * 1_000_000_000).div_euclid(self.fps as i128)
    }

    /// Frame `k`'s instant.
    pub(crate) fn instant(&self, k: u64) -> DateTime<Utc> {
        let ns = self.nanos(k);
        let secs = ns.div_euclid(1_000_000_000) as i64;
        let sub = ns.rem_euclid(1_000_000_000) as u32;
        DateTime::from_timestamp(secs, sub).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }

    /// The first frame whose instant is after `ns` (ns since the epoch).
    pub(crate) fn next_after(&self, ns: i128) -> u64 {
        let k = (ns.max(0) * self.fps as i128).div_euclid(1_000_000_000) + 1;
        let mut k = k.clamp(0, u64::MAX as i128) as u64;
        // The floor in `nanos` may put frame k exactly on `ns`.
        while self.nanos(k) <= ns {
            k += 1;
        }
        k
    }
}

/// The monotonic instant at which the wall clock reads `target` ns, given
/// one reading of both clocks (`mono_now`, `wall_now` ns) taken together.
pub(crate) fn mono_at(target: i128, mono_now: Instant, wall_now: i128) -> Instant {
    let d = target - wall_now;
    let abs = std::time::Duration::from_nanos(d.unsigned_abs().min(u64::MAX as u128) as u64);
    if d >= 0 {
        mono_now + abs
    } else {
        mono_now.checked_sub(abs).unwrap_or(mono_now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deadline ahead on the monotonic clock is that much ahead on the
    /// site's clock (sped up on a simulated one); one passed is behind.
    #[test]
    fn at_instant_puts_a_deadline_on_the_site_clock() {
        let start = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
        let clock = Clock::simulated(start, 60.0);
        let ahead = clock.at_instant(Instant::now() + std::time::Duration::from_secs(1));
        let gap = (ahead - clock.now()).num_milliseconds();
        // 60 simulated seconds, less 60× what elapsed between the two
        // calls (bounds wide enough for a machine that stalls the test).
        assert!((30_000..=60_000).contains(&gap), "{gap} ms");
        let system = Clock::System;
        let ahead = system.at_instant(Instant::now() + std::time::Duration::from_millis(500));
        let gap = (ahead - Utc::now()).num_milliseconds();
        assert!((0..=500).contains(&gap), "{gap} ms");
        if let Some(past) = Instant::now().checked_sub(std::time::Duration::from_secs(2)) {
            let gap = (system.at_instant(past) - Utc::now()).num_milliseconds();
            assert!((-60_000..=-2_000).contains(&gap), "{gap} ms");
        }
    }

    /// The grid is the same integer arithmetic on every node: 40 fps is
    /// every 25 ms since the epoch, 30 fps alternates 33,333,333 and
    /// 33,333,334 ns, and `next_after` is the first point after its time.
    #[test]
    fn the_frame_grid_is_fixed_to_the_epoch() {
        let g = FrameGrid::new(40);
        assert_eq!(g.nanos(1), 25_000_000);
        assert_eq!(g.nanos(40), 1_000_000_000);
        let g30 = FrameGrid::new(30);
        assert_eq!(g30.nanos(1), 33_333_333);
        assert_eq!(g30.nanos(2), 66_666_666);
        assert_eq!(g30.nanos(3), 100_000_000);
        for (fps, ns) in [
            (40, 1_765_000_000_012_345_678i128),
            (30, 1_765_000_000_000_000_000),
            (7, 0),
        ] {
            let g = FrameGrid::new(fps);
            let k = g.next_after(ns);
            assert!(
                g.nanos(k) > ns && g.nanos(k - 1) <= ns,
                "{fps} fps at {ns}: {k}"
            );
        }
        let at = DateTime::parse_from_rfc3339("2026-12-31T12:00:00.0125Z")
            .unwrap()
            .to_utc();
        let k = g.next_after(unix_nanos(at));
        assert_eq!(
            g.instant(k),
            DateTime::parse_from_rfc3339("2026-12-31T12:00:00.025Z")
                .unwrap()
                .to_utc()
        );
        let now = Instant::now();
        assert_eq!(mono_at(1_000, now, 1_000), now);
        assert_eq!(
            mono_at(6_000_000, now, 1_000_000),
            now + std::time::Duration::from_millis(5)
        );
        assert!(mono_at(0, now, 1_000_000) <= now);
    }
}
