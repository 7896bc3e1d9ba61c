//! Live text: `{countdown:…}` and `{time:…}` placeholders in a text
//! layer's `text`, expanded for an instant given as an argument (pure: the
//! daemon, `render --at` and every node of a fleet write the same text at
//! the same instant).
//!
//! - `{countdown:2027-01-01T00:00:00+08:00}` — time left until then, as
//!   `12d 03:04:05` (days only while there are any: `03:04:05` on the last
//!   day). The instant is RFC 3339, or the site's wall-clock time
//!   `2027-01-01 00:00[:SS]`. A style after `|` picks another form:
//!   `|hms` (`291:04:05`, hours not wrapped into days), `|days` (`12`, days
//!   left counting today's part as one), `|seconds` (`1047845`). Seconds
//!   round up, so the display reads `00:00:01` in the last second and
//!   `00:00:00` from the instant on (it holds at zero).
//! - `{time:%H:%M}` — the site's wall-clock time in a strftime format
//!   (`%H:%M:%S`, `%Y-%m-%d`, `%m月%d日`, …).
//! - `{{` and `}}` are literal braces.
//!
//! A malformed template is an error naming its byte offset in the text, so
//! `check` can point at the column.

use crate::local_time;
use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use std::fmt::Write;

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
    tz: Tz,
}

#[derive(Clone, Debug, PartialEq)]
enum Part {
    Literal(String),
    Countdown { to: DateTime<Utc>, style: Countdown },
    Time { format: String },
}

/// How a countdown is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Countdown {
    /// `12d 03:04:05`, or `03:04:05` on the last day.
    Dhms,
    /// `291:04:05`.
    Hms,
    /// `12`.
    Days,
    /// `1047845`.
    Seconds,
}

/// Where and why a template is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// Byte offset of the fault in the text.
    pub at: usize,
    pub message: String,
}

const SYNTAX: &str = "write {countdown:2027-01-01T00:00:00+08:00}, {countdown:2027-01-01 00:00|hms} (styles dhms, hms, days, seconds), {time:%H:%M}, or {{ and }} for braces";

impl Template {
    /// Parses `text` for a site in `tz` (the zone `{time:…}` and wall-clock
    /// countdown targets are read in).
    pub fn parse(text: &str, tz: Tz) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text.char_indices().peekable();
        while let Some((at, c)) = rest.next() {
            match c {
                '{' if rest.peek().map(|p| p.1) == Some('{') => {
                    rest.next();
                    literal.push('{');
                }
                '}' if rest.peek().map(|p| p.1) == Some('}') => {
                    rest.next();
                    literal.push('}');
                }
                '}' => {
                    return Err(TemplateError {
                        at,
                        message: format!("a lone '}}' in the text: {SYNTAX}"),
                    })
                }
                '{' => {
                    let Some(len) = text[at..].find('}') else {
                        return Err(TemplateError {
                            at,
                            message: format!("'{{' is not closed: {SYNTAX}"),
                        });
                    };
                    let inner = &text[at + 1..at + len];
                    parts.push(Part::Literal(std::mem::take(&mut literal)));
                    parts.push(placeholder(inner, at, tz)?);
                    while rest.peek().is_some_and(|&(i, _)| i <= at + len) {
                        rest.next();
                    }
                }
                c => literal.push(c),
            }
        }
        parts.push(Part::Literal(literal));
        parts.retain(|p| !matches!(p, Part::Literal(s) if s.is_empty()));
        Ok(Template { parts, tz })
    }

    /// True when the text never changes (no placeholders).
    pub fn is_constant(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// The literal characters of the text (what the font must draw
    /// whatever the instant), for the missing-glyph check.
    pub fn literal_text(&self) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                Part::Countdown { .. } => out.push_str("0123456789d :"),
                Part::Time { format } => {
                    // The format's own text (not its fields): `%m月%d日` → 月日.
                    for item in StrftimeItems::new(format) {
                        if let Item::Literal(s) = item {
                            out.push_str(s);
                        }
                    }
                    out.push_str("0123456789");
                }
            }
        }
        out
    }

    /// The text at `at`, written into `out` (cleared first; a reused
    /// buffer allocates nothing once it is long enough).
    pub fn expand_into(&self, at: DateTime<Utc>, out: &mut String) {
        out.clear();
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                Part::Countdown { to, style } => countdown(*to, at, *style, out),
                Part::Time { format } => {
                    let local = at.with_timezone(&self.tz);
                    // Validated when parsed; a formatting error writes nothing.
                    let _ = write!(out, "{}", local.format(format));
                }
            }
        }
    }

    /// The text a live template stands for when no instant is given (the
    /// layer's look for `check`'s listing, a cell evaluated alone): the
    /// text at the Unix epoch with every ASCII digit drawn as `8`, the
    /// digit with the most lit pixels, so an estimate from it errs high.
    /// Literal text (a template without placeholders) is itself.
    pub fn representative(&self) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Literal(s) => out.push_str(s),
                _ => {
                    let mut one = Template {
                        parts: vec![p.clone()],
                        tz: self.tz,
                    }
                    .expand(DateTime::UNIX_EPOCH);
                    one = one
                        .chars()
                        .map(|c| if c.is_ascii_digit() { '8' } else { c })
                        .collect();
                    out.push_str(&one);
                }
            }
        }
        out
    }

    /// The text at `at`.
    pub fn expand(&self, at: DateTime<Utc>) -> String {
        let mut s = String::new();
        self.expand_into(at, &mut s);
        s
    }
}

fn placeholder(inner: &str, at: usize, tz: Tz) -> Result<Part, TemplateError> {
    let err = |offset: usize, message: String| TemplateError {
        at: at + 1 + offset,
        message,
    };
    let (name, arg) = inner.split_once(':').unwrap_or((inner, ""));
    let arg_at = name.len() + 1;
    match name.trim() {
        "countdown" => {
            let (when, style) = match arg.rsplit_once('|') {
                Some((w, s)) => (w, Some(s)),
                None => (arg, None),
            };
            let style = match style.map(str::trim) {
                None | Some("dhms") => Countdown::Dhms,
                Some("hms") => Countdown::Hms,
                Some("days") => Countdown::Days,
                Some("seconds") => Countdown::Seconds,
                Some(other) => {
                    return Err(err(
                        arg_at + when.len() + 1,
                        format!("countdown style '{other}' is not one of dhms, hms, days, seconds"),
                    ))
                }
            };
            let when_t = when.trim();
            // A date is required: a bare "20:00" would mean a different
            // instant every day.
            let dated = when_t.len() >= 10 && when_t.as_bytes()[4] == b'-';
            let to = if dated {
                local_time::parse_instant(when_t, tz, NaiveDate::MIN)
                    .map_err(|e| err(arg_at, e.to_string()))?
            } else {
                return Err(err(
                    arg_at,
                    format!("countdown to '{when_t}': write the instant with its date, e.g. {{countdown:2027-01-01T00:00:00+08:00}} or {{countdown:2027-01-01 00:00}} (site time)"),
                ));
            };
            Ok(Part::Countdown { to, style })
        }
        "time" => {
            if arg.is_empty() {
                return Err(err(0, "{time:…} needs a format, e.g. {time:%H:%M}".into()));
            }
            if StrftimeItems::new(arg).any(|i| matches!(i, Item::Error)) {
                return Err(err(
                    arg_at,
                    format!("'{arg}' is not a strftime format: use %H hours, %M minutes, %S seconds, %Y-%m-%d the date, %% a percent sign"),
                ));
            }
            // Formats that need more than a zoned instant (none should,
            // but a format error must not reach run time).
            let probe = DateTime::<Utc>::UNIX_EPOCH.with_timezone(&tz);
            let mut s = String::new();
            if write!(s, "{}", probe.format(arg)).is_err() {
                return Err(err(arg_at, format!("'{arg}' cannot be written for a time")));
            }
            Ok(Part::Time {
                format: arg.to_string(),
            })
        }
        other => Err(err(
            0,
            format!("unknown placeholder '{{{other}}}': {SYNTAX}"),
        )),
    }
}

fn countdown(to: DateTime<Utc>, at: DateTime<Utc>, style: Countdown, out: &mut String) {
    let ms = (to - at).num_milliseconds().max(0);
    // Whole seconds left, rounded up: 0.2 s before is "00:00:01".
    let secs = (ms + 999) / 1000;
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let _ = match style {
        Countdown::Dhms if d > 0 => write!(out, "{d}d {h:02}:{m:02}:{s:02}"),
        Countdown::Dhms => write!(out, "{h:02}:{m:02}:{s:02}"),
        Countdown::Hms => write!(out, "{:02}:{m:02}:{s:02}", secs / 3600),
        Countdown::Days => write!(out, "{}", (secs + 86_399) / 86_400),
        Countdown::Seconds => write!(out, "{secs}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn expand(text: &str, when: &str) -> String {
        Template::parse(text, SHANGHAI).unwrap().expand(at(when))
    }

    #[test]
    fn countdown_to_new_year_at_fixed_instants() {
        let t = "新年倒计时 {countdown:2027-01-01T00:00:00+08:00}";
        assert_eq!(
            expand(t, "2026-12-19T20:55:55+08:00"),
            "新年倒计时 12d 03:04:05"
        );
        assert_eq!(
            expand(t, "2026-12-31T23:00:00+08:00"),
            "新年倒计时 01:00:00"
        );
        assert_eq!(
            expand(t, "2026-12-31T23:59:59.200+08:00"),
            "新年倒计时 00:00:01"
        );
        assert_eq!(
            expand(t, "2027-01-01T00:00:00+08:00"),
            "新年倒计时 00:00:00"
        );
        assert_eq!(
            expand(t, "2027-01-05T00:00:00+08:00"),
            "新年倒计时 00:00:00"
        );
        // Site wall-clock target, read in the site's zone.
        assert_eq!(
            expand("{countdown:2027-01-01 00:00}", "2026-12-31T15:59:00Z"),
            "00:01:00"
        );
    }

    #[test]
    fn countdown_styles() {
        let when = "2026-12-19T20:55:55+08:00";
        assert_eq!(
            expand("{countdown:2027-01-01T00:00:00+08:00|hms}", when),
            "291:04:05"
        );
        assert_eq!(
            expand("{countdown:2027-01-01T00:00:00+08:00|days}", when),
            "13"
        );
        assert_eq!(
            expand("{countdown:2027-01-01T00:00:00+08:00|seconds}", when),
            "1047845"
        );
        assert_eq!(
            expand("{countdown:2027-01-01T00:00:00+08:00|dhms}", when),
            "12d 03:04:05"
        );
    }

    #[test]
    fn time_in_the_site_zone() {
        assert_eq!(
            expand("现在 {time:%H:%M}", "2027-02-10T12:34:56Z"),
            "现在 20:34"
        );
        assert_eq!(
            expand("{time:%m月%d日 %H:%M:%S}", "2027-02-10T12:34:56Z"),
            "02月10日 20:34:56"
        );
        let london = Template::parse("{time:%H:%M}", chrono_tz::Europe::London).unwrap();
        assert_eq!(
            london.expand(Utc.with_ymd_and_hms(2027, 7, 1, 12, 0, 0).unwrap()),
            "13:00"
        );
    }

    #[test]
    fn braces_and_plain_text() {
        assert_eq!(expand("{{欢迎}}", "2027-01-01T00:00:00Z"), "{欢迎}");
        let t = Template::parse("新年快乐 2027", SHANGHAI).unwrap();
        assert!(t.is_constant());
        assert_eq!(t.literal_text(), "新年快乐 2027");
        let t = Template::parse("{time:%m月%d日}", SHANGHAI).unwrap();
        assert!(!t.is_constant());
        assert!(t.literal_text().starts_with("月日"));
    }

    #[test]
    fn bad_templates_name_their_offset() {
        let bad = |text: &str| Template::parse(text, SHANGHAI).unwrap_err();
        let e = bad("欢迎 {countdwn:2027-01-01T00:00:00+08:00}");
        assert_eq!(e.at, "欢迎 {".len());
        assert!(
            e.message.contains("unknown placeholder '{countdwn}'"),
            "{}",
            e.message
        );
        let e = bad("abc {countdown:2027-13-01T00:00:00+08:00}");
        assert_eq!(e.at, "abc {countdown:".len());
        assert!(e.message.contains("not a time"), "{}", e.message);
        let e = bad("{countdown:20:00}");
        assert!(e.message.contains("with its date"), "{}", e.message);
        let e = bad("{countdown:2027-01-01T00:00:00+08:00|weeks}");
        assert!(e.message.contains("'weeks'"), "{}", e.message);
        assert_eq!(e.at, "{countdown:2027-01-01T00:00:00+08:00|".len());
        let e = bad("{time:%Q}");
        assert_eq!(e.at, "{time:".len());
        assert!(bad("{time:}").message.contains("needs a format"));
        assert_eq!(bad("ab {time:%H").at, 3);
        assert_eq!(bad("ab } cd").at, 3);
        // A wall-clock target in the hour the clocks skip.
        let e =
            Template::parse("{countdown:2027-03-28 01:30}", chrono_tz::Europe::London).unwrap_err();
        assert!(e.message.contains("does not exist"), "{}", e.message);
    }
}
