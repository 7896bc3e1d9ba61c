//! The scheduler: which shows play on which night, resolved from sun
//! events, clock times, cron expressions, dates and holidays.
//!
//! Pure like the engine: every function takes the instant or date it needs.
//! `sun` computes sun events, `lunar` the Chinese calendar's festivals,
//! `cron` Unix cron with DST made safe.

pub(crate) mod cron;
pub(crate) mod lunar;
pub mod plan;
pub mod sun;
