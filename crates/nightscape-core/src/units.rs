//! Quantities with units as designers write them: durations ("8s", "1m30s",
//! "500ms"), speeds ("4 m/s", "10 km/h"), distances ("120 m", "1.2 km"),
//! angles ("45 deg") and levels (0.8 or "80%").
//!
//! The same parsers serve the files and the API so a value that is valid in
//! a show is valid in an override and vice versa. Errors are plain strings;
//! callers attach the location.

/// A level (0..1) as percent text for people: "30", "2.5", "100"; never
/// `0.30000001192092896`.
pub fn percent(level: f64) -> String {
    let p = (level * 1000.0).round() / 10.0;
    if p.fract() == 0.0 {
        format!("{p:.0}")
    } else {
        format!("{p:.1}")
    }
}

/// The longest duration accepted anywhere (a fade, a period, a TTL): 366
/// days. Bounding them keeps every instant + duration far inside chrono's
/// range, so time arithmetic cannot overflow.
pub(crate) const MAX_DURATION_S: f64 = 366.0 * 86_400.0;

/// Parse a duration into seconds. Accepts a sum of parts with h, m, s, ms
/// suffixes ("1h30m", "2.5s", "500ms"); a bare number means seconds.
pub fn parse_duration(text: &str) -> Result<f64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration: write it like \"8s\", \"3m\" or \"1h30m\"".into());
    }
    if t.starts_with('-') {
        return Err(format!(
            "duration `{text}` is negative: durations count forward from zero"
        ));
    }
    if let Ok(v) = t.parse::<f64>() {
        return finite_non_negative(v, text).and_then(|v| bounded_duration(v, text));
    }
    let mut total = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(bad_duration(text));
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| bad_duration(text))?;
        rest = rest[num_len..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "ms" => 0.001,
            _ => return Err(bad_duration(text)),
        };
        total += value * factor;
        rest = rest[unit_len..].trim_start();
    }
    finite_non_negative(total, text).and_then(|v| bounded_duration(v, text))
}

fn bounded_duration(v: f64, text: &str) -> Result<f64, String> {
    if v > MAX_DURATION_S {
        return Err(format!(
            "duration `{}` is longer than 366 days, the longest nightscape accepts",
            text.trim()
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod duration_bounds {
    #[test]
    fn percent_is_short() {
        assert_eq!(super::percent(0.3f32 as f64), "30");
        assert_eq!(super::percent(0.025), "2.5");
        assert_eq!(super::percent(1.0), "100");
    }

    #[test]
    fn absurd_durations_are_refused_with_the_limit() {
        let e = super::parse_duration("1e17").unwrap_err();
        assert!(e.contains("366 days"), "{e}");
        assert!(super::parse_duration("9000h")
            .unwrap_err()
            .contains("366 days"));
        assert_eq!(
            super::parse_duration("8784h").unwrap(),
            super::MAX_DURATION_S
        );
    }
}

fn bad_duration(text: &str) -> String {
    format!("`{text}` is not a duration: write it like \"8s\", \"500ms\", \"3m\" or \"1h30m\"")
}

fn finite_non_negative(v: f64, text: &str) -> Result<f64, String> {
    if !v.is_finite() {
        return Err(format!("`{text}` is not a finite quantity"));
    }
    if v < 0.0 {
        return Err(format!("`{text}` is negative"));
    }
    Ok(v)
}

/// Split "4 m/s" into (4.0, "m/s").
fn number_and_unit(text: &str) -> Option<(f64, &str)> {
    let t = text.trim();
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e'))
        .unwrap_or(t.len());
    // "e" inside a unit like "deg" must not be eaten: retry without it.
    let (num, unit) = match t[..end].parse::<f64>() {
        Ok(v) => (v, t[end..].trim()),
        Err(_) => {
            let end = t
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
                .unwrap_or(t.len());
            (t[..end].parse::<f64>().ok()?, t[end..].trim())
        }
    };
    num.is_finite().then_some((num, unit))
}

/// Parse a speed into metres per second ("4 m/s", "10 km/h"); a bare number
/// means m/s. Negative speeds run the effect the other way.
pub(crate) fn parse_speed(text: &str) -> Result<f64, String> {
    let (v, unit) = number_and_unit(text).ok_or_else(|| {
        format!("`{text}` is not a speed: write it like \"4 m/s\" or \"10 km/h\"")
    })?;
    let factor = match unit {
        "" | "m/s" | "mps" => 1.0,
        "km/h" | "kmh" | "kph" => 1.0 / 3.6,
        _ => {
            return Err(format!(
                "`{text}`: unknown speed unit `{unit}` (use m/s or km/h)"
            ))
        }
    };
    Ok(v * factor)
}

/// Parse a distance into metres ("120 m", "1.2 km", "50 cm"); a bare number
/// means metres. Must be positive where used as a wavelength; callers check.
pub(crate) fn parse_distance(text: &str) -> Result<f64, String> {
    let (v, unit) = number_and_unit(text).ok_or_else(|| {
        format!("`{text}` is not a distance: write it like \"120 m\" or \"1.2 km\"")
    })?;
    let factor = match unit {
        "" | "m" => 1.0,
        "km" => 1000.0,
        "cm" => 0.01,
        _ => {
            return Err(format!(
                "`{text}`: unknown distance unit `{unit}` (use m or km)"
            ))
        }
    };
    Ok(v * factor)
}

#[cfg(test)]
/// Parse an angle into degrees ("45 deg", "45°", "-30"); a bare number means
/// degrees.
pub(crate) fn parse_angle(text: &str) -> Result<f64, String> {
    let (v, unit) = number_and_unit(text)
        .ok_or_else(|| format!("`{text}` is not an angle: write it like \"45 deg\""))?;
    match unit {
        "" | "deg" | "°" | "degrees" => Ok(v),
        _ => Err(format!("`{text}`: unknown angle unit `{unit}` (use deg)")),
    }
}

/// Parse a level: a fraction 0..=1, or a percentage string "0%".."100%".
pub fn parse_level_str(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let v = if let Some(p) = t.strip_suffix('%') {
        p.trim()
            .parse::<f64>()
            .map(|v| v / 100.0)
            .map_err(|_| format!("`{text}` is not a level: write 0.8 or \"80%\""))?
    } else {
        t.parse::<f64>()
            .map_err(|_| format!("`{text}` is not a level: write 0.8 or \"80%\""))?
    };
    check_level(v)
}

/// A level must lie in 0..=1.
pub fn check_level(v: f64) -> Result<f64, String> {
    if !(0.0..=1.0).contains(&v) || !v.is_finite() {
        return Err(format!(
            "level {v} is out of range: levels run from 0 to 1 (or 0% to 100%)"
        ));
    }
    Ok(v)
}

/// JSON Schema patterns (ECMA 262) for the texts the parsers below accept,
/// for editors (`nightscape schema`). They may be looser than the parsers
/// (the parser has the last word, with a located message), never stricter:
/// every demo and generated file is validated against them in the tests.
pub(crate) const DURATION_PATTERN: &str = r"^\s*([0-9]*\.?[0-9]+([eE][+-]?[0-9]+)?|([0-9.]+\s*(h|hr|hour|hours|m|min|mins|minute|minutes|s|sec|secs|second|seconds|ms)\s*)+)\s*$";
/// A speed: "4 m/s", "10 km/h", "-2" (m/s).
pub(crate) const SPEED_PATTERN: &str =
    r"^\s*[-+]?[0-9.]+([eE][-+]?[0-9]+)?\s*(m/s|mps|km/h|kmh|kph)?\s*$";
/// A distance: "120 m", "1.2 km", "50 cm", "40" (metres).
pub(crate) const DISTANCE_PATTERN: &str = r"^\s*[-+]?[0-9.]+([eE][-+]?[0-9]+)?\s*(m|km|cm)?\s*$";
/// A level as text: "80%" or "0.8".
pub(crate) const LEVEL_PATTERN: &str = r"^\s*[0-9.]+([eE][-+]?[0-9]+)?\s*%?\s*$";

impl schemars::JsonSchema for LevelValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Level".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "anyOf": [
                { "type": "number", "minimum": 0, "maximum": 1 },
                { "type": "string", "pattern": LEVEL_PATTERN }
            ]
        })
    }
}

/// A level as it appears in TOML or JSON: a number or a percentage string.
#[derive(Debug, Clone)]
pub(crate) enum LevelValue {
    Number(f64),
    Text(String),
}

impl<'de> serde::Deserialize<'de> for LevelValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = LevelValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a level: a number from 0 to 1, or a percentage like \"80%\"")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<LevelValue, E> {
                Ok(LevelValue::Number(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<LevelValue, E> {
                Ok(LevelValue::Number(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<LevelValue, E> {
                Ok(LevelValue::Number(v as f64))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LevelValue, E> {
                Ok(LevelValue::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl LevelValue {
    pub(crate) fn to_level(&self) -> Result<f64, String> {
        match self {
            LevelValue::Number(v) => check_level(*v),
            LevelValue::Text(t) => parse_level_str(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("8s").unwrap(), 8.0);
        assert_eq!(parse_duration("500ms").unwrap(), 0.5);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400.0);
        assert_eq!(parse_duration("1m 30s").unwrap(), 90.0);
        assert_eq!(parse_duration("2.5").unwrap(), 2.5);
        assert!(parse_duration("-3s").unwrap_err().contains("negative"));
        assert!(parse_duration("3 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn speeds_distances_angles() {
        assert_eq!(parse_speed("4 m/s").unwrap(), 4.0);
        assert!((parse_speed("36 km/h").unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(parse_speed("-2 m/s").unwrap(), -2.0);
        assert!(parse_speed("4 furlongs").is_err());
        assert_eq!(parse_distance("120 m").unwrap(), 120.0);
        assert_eq!(parse_distance("1.2 km").unwrap(), 1200.0);
        assert_eq!(parse_angle("45 deg").unwrap(), 45.0);
        assert_eq!(parse_angle("-30").unwrap(), -30.0);
    }

    #[test]
    fn levels() {
        assert_eq!(parse_level_str("80%").unwrap(), 0.8);
        assert_eq!(parse_level_str("0.25").unwrap(), 0.25);
        assert!(parse_level_str("120%").is_err());
        assert!(check_level(-0.1).is_err());
        assert!(check_level(f64::NAN).is_err());
    }
}
