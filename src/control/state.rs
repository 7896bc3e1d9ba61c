//! Where an override or a scene is in its life at an instant, as the API
//! reports it and the console reads it.
//!
//! A closed set, so it is an enum: the JSON names are the ones the API has
//! always sent, the OpenAPI document lists them, and the page compares
//! against the same names from its one table (`page/names.js`), never a
//! string literal of its own.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// An override's or a scene's state at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    /// It starts later (a fleet item with a start ahead of this node's clock).
    Pending,
    /// Fading in from its start.
    FadingIn,
    /// In force at full strength.
    Active,
    /// Fading out towards its end.
    FadingOut,
    /// Released or stopped by an operator, fading out.
    Releasing,
}

impl ItemState {
    /// The state at `now` of an item that starts at `start`, ends at `end`
    /// (never, when `None`), fades `fade` seconds in and out, and was
    /// `released` by an operator or not.
    pub(crate) fn at(
        now: DateTime<Utc>,
        start: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
        fade: f64,
        released: bool,
    ) -> ItemState {
        let since = nightscape_core::engine::seconds_between(start, now);
        let left = end.map(|e| nightscape_core::engine::seconds_between(now, e));
        if released {
            ItemState::Releasing
        } else if since < 0.0 {
            ItemState::Pending
        } else if since < fade {
            ItemState::FadingIn
        } else if left.is_some_and(|l| l < fade) {
            ItemState::FadingOut
        } else {
            ItemState::Active
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each state at its instant, and the names the API has always sent.
    #[test]
    fn states_follow_the_fades_and_keep_their_names() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        let end = Some(at(100));
        let cases = [
            (at(-1), false, ItemState::Pending),
            (at(0), false, ItemState::FadingIn),
            (at(9), false, ItemState::FadingIn),
            (at(10), false, ItemState::Active),
            (at(90), false, ItemState::Active),
            (at(91), false, ItemState::FadingOut),
            (at(50), true, ItemState::Releasing),
        ];
        for (now, released, want) in cases {
            assert_eq!(ItemState::at(now, t0, end, 10.0, released), want, "{now}");
        }
        assert_eq!(
            ItemState::at(at(1000), t0, None, 10.0, false),
            ItemState::Active
        );
        let all = [
            ItemState::Pending,
            ItemState::FadingIn,
            ItemState::Active,
            ItemState::FadingOut,
            ItemState::Releasing,
        ];
        let names: Vec<String> = all
            .iter()
            .map(|s| {
                serde_json::to_value(s)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            ["pending", "fading_in", "active", "fading_out", "releasing"]
        );
    }
}
