//! The fleet's incoming queue: what the MQTT event loop received and the
//! fleet task has not handled yet, bounded and coalesced per topic.
//!
//! A command topic is one item, and only its newest message matters (the
//! `(version, origin)` rule), so a second message for a topic still waiting
//! replaces the first instead of queueing behind it: a flood that repeats
//! ids costs one slot per id. Distinct topics are bounded in count and in
//! bytes; past the bound a message is dropped and counted, and the fleet
//! task subscribes to the commands again once it has caught up, so the
//! broker delivers the retained state it missed (nothing is lost for good,
//! only later). An emergency override is admitted past the bound (up to a
//! hard limit twice as large): it must never wait for room.
//!
//! The event loop only pushes and never waits here, so a slow fleet task
//! cannot stall the MQTT keep-alive.

use chrono::{DateTime, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Topics waiting at most (emergencies may go up to twice this).
pub(crate) const MAX_TOPICS: usize = 4096;
/// Payload bytes waiting at most (emergencies may go up to twice this).
pub(crate) const MAX_BYTES: usize = 16 * 1024 * 1024;

/// One message from the broker.
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub topic: String,
    pub payload: Vec<u8>,
    /// Delivered from the broker's retained store (not sent just now).
    pub retained: bool,
    /// When it arrived (the render clock, read by the event loop: clock
    /// probes need the arrival, not when the fleet task got to it).
    pub received: DateTime<Utc>,
}

/// What [`Inbox::offer`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    Queued,
    /// Replaced a message for the same topic still waiting.
    Coalesced,
    /// Dropped: the queue is full.
    Full,
}

#[derive(Default)]
struct Inner {
    order: VecDeque<String>,
    pending: HashMap<String, Incoming>,
    bytes: usize,
    /// Messages dropped for lack of room since the last [`Inbox::take_overflow`].
    overflow: u64,
}

/// The queue between the event loop and the fleet task.
#[derive(Default)]
pub(crate) struct Inbox {
    inner: Mutex<Inner>,
    ready: tokio::sync::Notify,
}

impl Inbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue `m`, replacing a waiting message of the same topic. `urgent`
    /// messages (emergencies) are admitted up to twice the bounds.
    pub(crate) fn offer(&self, m: Incoming, urgent: bool) -> Offer {
        let mut inner = self.lock();
        let outcome = if let Some(old) = inner.pending.get_mut(&m.topic) {
            let (old_len, new_len) = (old.payload.len(), m.payload.len());
            *old = m;
            inner.bytes = inner.bytes - old_len + new_len;
            Offer::Coalesced
        } else {
            let scale = if urgent { 2 } else { 1 };
            if inner.order.len() >= MAX_TOPICS * scale
                || inner.bytes + m.payload.len() > MAX_BYTES * scale
            {
                inner.overflow += 1;
                return Offer::Full;
            }
            inner.bytes += m.payload.len();
            inner.order.push_back(m.topic.clone());
            inner.pending.insert(m.topic.clone(), m);
            Offer::Queued
        };
        drop(inner);
        self.ready.notify_one();
        outcome
    }

    /// The oldest waiting message, if any.
    pub(crate) fn pop(&self) -> Option<Incoming> {
        let mut inner = self.lock();
        while let Some(topic) = inner.order.pop_front() {
            if let Some(m) = inner.pending.remove(&topic) {
                inner.bytes -= m.payload.len();
                return Some(m);
            }
        }
        None
    }

    /// Wait until a message is waiting (cancel-safe: nothing is taken).
    pub(crate) async fn wait(&self) {
        loop {
            if !self.lock().order.is_empty() {
                return;
            }
            self.ready.notified().await;
        }
    }

    /// How many messages were dropped for lack of room since the last call.
    pub(crate) fn take_overflow(&self) -> u64 {
        std::mem::take(&mut self.lock().overflow)
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(topic: &str, len: usize) -> Incoming {
        Incoming {
            topic: topic.into(),
            payload: vec![b'x'; len],
            retained: false,
            received: Utc::now(),
        }
    }

    #[test]
    fn coalesced_per_topic_and_bounded() {
        let inbox = Inbox::default();
        for _ in 0..10_000 {
            assert_ne!(
                inbox.offer(msg("cmd/override/same", 10), false),
                Offer::Full
            );
        }
        assert_eq!(inbox.len(), 1);
        for i in 0..MAX_TOPICS * 3 {
            inbox.offer(msg(&format!("cmd/override/{i}"), 10), false);
        }
        assert_eq!(inbox.len(), MAX_TOPICS);
        assert_eq!(inbox.take_overflow() as usize, MAX_TOPICS * 2 + 1);
        // An emergency still gets in.
        assert_eq!(
            inbox.offer(msg("cmd/override/sos", 10), true),
            Offer::Queued
        );
        // Order is first arrival; the coalesced topic kept its place.
        assert_eq!(inbox.pop().unwrap().topic, "cmd/override/same");
        let mut n = 1;
        while inbox.pop().is_some() {
            n += 1;
        }
        assert_eq!(n, MAX_TOPICS + 1);
        // Bytes are bounded too.
        assert_eq!(inbox.offer(msg("big", MAX_BYTES + 1), false), Offer::Full);
        assert_eq!(inbox.offer(msg("ok", MAX_BYTES), false), Offer::Queued);
        assert_eq!(inbox.offer(msg("more", 1), false), Offer::Full);
        assert_eq!(inbox.pop().unwrap().payload.len(), MAX_BYTES);
        assert!(inbox.pop().is_none());
    }
}
