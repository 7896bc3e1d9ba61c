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

    /// How many simulated seconds pass per real second.
    pub fn speed(&self) -> f64 {
        match *self {
            Clock::System => 1.0,
            Clock::Simulated { speed, .. } => speed,
        }
    }
}
