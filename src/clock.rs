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
    pub fn at_instant(&self, when: Instant) -> DateTime<Utc> {
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
    pub fn speed(&self) -> f64 {
        match *self {
            Clock::System => 1.0,
            Clock::Simulated { speed, .. } => speed,
        }
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
}
