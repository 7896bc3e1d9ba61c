//! Colours as designers write them and light as the engine mixes it.
//!
//! A [`Color`] is what a file says: hex (`#ffb000`, `#fb0`), a CSS colour name
//! (`warmwhite` is ours, the rest are CSS's), or a colour temperature
//! (`3000K`). A [`Light`] is what a cell emits: linear RGB *premultiplied* by
//! intensity, plus the colour temperature when the light is a white. Mixing
//! premultiplied light is what makes crossfades physically right: fading red
//! into black halves the light, it does not darken the hue and then dim it
//! again. Colour temperature is carried separately so tunable-white fixtures
//! can drive their warm and cool emitters from the Kelvin value the designer
//! asked for instead of guessing it back from RGB.

use std::fmt;

/// A colour as written in a file: normalised RGB (0..=1) and, for
/// temperatures, the Kelvin value it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Color {
    pub r: f32,
    pub g: f32,
    pub b: f32,
    /// Kelvin, when written as a colour temperature; 0 otherwise.
    pub kelvin: f32,
}

impl Color {
    pub(crate) const BLACK: Color = Color::rgb(0.0, 0.0, 0.0);
    pub(crate) const WHITE: Color = Color::rgb(1.0, 1.0, 1.0);

    pub const fn rgb(r: f32, g: f32, b: f32) -> Color {
        Color {
            r,
            g,
            b,
            kelvin: 0.0,
        }
    }

    /// This colour at `level` (0..=1) as emitted light.
    pub(crate) fn at(self, level: f32) -> Light {
        Light {
            r: self.r * level,
            g: self.g * level,
            b: self.b * level,
            kelvin: self.kelvin,
        }
    }

    /// Linear blend between two colours (f = 0 gives self).
    pub(crate) fn lerp(self, other: Color, f: f32) -> Color {
        let kelvin = if self.kelvin > 0.0 && other.kelvin > 0.0 {
            self.kelvin + (other.kelvin - self.kelvin) * f
        } else if f < 0.5 {
            self.kelvin
        } else {
            other.kelvin
        };
        Color {
            r: self.r + (other.r - self.r) * f,
            g: self.g + (other.g - self.g) * f,
            b: self.b + (other.b - self.b) * f,
            kelvin,
        }
    }

    /// Parse hex, a CSS name or a Kelvin temperature.
    pub(crate) fn parse(text: &str) -> Result<Color, String> {
        let t = text.trim();
        if let Some(hex) = t.strip_prefix('#') {
            return parse_hex(hex)
                .ok_or_else(|| format!("`{text}` is not a hex colour: write #rrggbb or #rgb"));
        }
        let lower = t.to_ascii_lowercase();
        if let Some(k) = lower.strip_suffix('k') {
            if let Ok(kelvin) = k.trim().parse::<f32>() {
                if !(1000.0..=20000.0).contains(&kelvin) {
                    return Err(format!(
                        "colour temperature `{text}` is out of range: use 1000K to 20000K"
                    ));
                }
                return Ok(kelvin_color(kelvin));
            }
        }
        let key: String = lower
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '_'))
            .collect();
        css_name(&key)
            .and_then(parse_hex)
            .ok_or_else(|| {
                format!(
                    "unknown colour `{text}`: use #rrggbb, a CSS colour name, or a temperature like 3000K"
                )
            })
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        write!(f, "#{:02x}{:02x}{:02x}", q(self.r), q(self.g), q(self.b))
    }
}

fn parse_hex(hex: &str) -> Option<Color> {
    let digits: Vec<u8> = hex
        .chars()
        .map(|c| c.to_digit(16).map(|d| d as u8))
        .collect::<Option<_>>()?;
    let (r, g, b) = match digits.len() {
        3 => (digits[0] * 17, digits[1] * 17, digits[2] * 17),
        6 => (
            digits[0] * 16 + digits[1],
            digits[2] * 16 + digits[3],
            digits[4] * 16 + digits[5],
        ),
        _ => return None,
    };
    Some(Color::rgb(
        r as f32 / 255.0,
        g as f32 / 255.0,
        b as f32 / 255.0,
    ))
}

/// Black-body colour of a temperature, normalised so the strongest primary
/// is 1 (Tanner Helland's fit of the CIE 1964 data; good to a few percent,
/// which is finer than LED binning).
pub(crate) fn kelvin_color(kelvin: f32) -> Color {
    let t = kelvin.clamp(1000.0, 40000.0) / 100.0;
    let r = if t <= 66.0 {
        255.0
    } else {
        329.698_73 * (t - 60.0).powf(-0.133_204_76)
    };
    let g = if t <= 66.0 {
        99.470_8 * t.ln() - 161.119_57
    } else {
        288.122_16 * (t - 60.0).powf(-0.075_514_85)
    };
    let b = if t >= 66.0 {
        255.0
    } else if t <= 19.0 {
        0.0
    } else {
        138.517_73 * (t - 10.0).ln() - 305.044_8
    };
    let (r, g, b) = (
        r.clamp(0.0, 255.0),
        g.clamp(0.0, 255.0),
        b.clamp(0.0, 255.0),
    );
    let m = r.max(g).max(b).max(1.0);
    Color {
        r: r / m,
        g: g / m,
        b: b / m,
        kelvin,
    }
}

/// Estimate the colour temperature of an RGB colour by matching its
/// blue/red balance on the black-body curve; used when a tunable-white
/// fixture is asked for a colour that was not written in Kelvin.
pub(crate) fn estimate_kelvin(r: f32, g: f32, b: f32) -> f32 {
    let _ = g;
    if r <= 0.0 && b <= 0.0 {
        return 4000.0;
    }
    let target = b / r.max(1e-6);
    let (mut lo, mut hi) = (1000.0f32, 20000.0f32);
    for _ in 0..24 {
        let mid = (lo + hi) / 2.0;
        let c = kelvin_color(mid);
        if c.b / c.r.max(1e-6) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// Light emitted by one cell: linear RGB premultiplied by intensity.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Light {
    pub r: f32,
    pub g: f32,
    pub b: f32,
    /// Colour temperature of a white, 0 when the light is not a white.
    pub kelvin: f32,
}

impl Light {
    /// Equal in every bit of every lane (so -0.0 is not 0.0): what the
    /// fast paths' tests hold them to against the reference. A plain
    /// comparison, not an array map: in a debug build that cost more than
    /// the renders under test.
    #[cfg(test)]
    pub(crate) fn same_bits(&self, other: &Light) -> bool {
        self.r.to_bits() == other.r.to_bits()
            && self.g.to_bits() == other.g.to_bits()
            && self.b.to_bits() == other.b.to_bits()
            && self.kelvin.to_bits() == other.kelvin.to_bits()
    }

    pub const DARK: Light = Light {
        r: 0.0,
        g: 0.0,
        b: 0.0,
        kelvin: 0.0,
    };

    /// Intensity: the strongest primary.
    pub(crate) fn intensity(&self) -> f32 {
        self.r.max(self.g).max(self.b)
    }

    /// Crossfade towards `top` by `f` (0 keeps self, 1 gives top).
    pub(crate) fn mix(self, top: Light, f: f32) -> Light {
        if f >= 1.0 {
            return top;
        }
        if f <= 0.0 {
            return self;
        }
        let kelvin = if top.kelvin > 0.0 && self.kelvin > 0.0 {
            self.kelvin + (top.kelvin - self.kelvin) * f
        } else if top.kelvin > 0.0 && (f >= 0.5 || self.intensity() == 0.0) {
            top.kelvin
        } else if self.kelvin > 0.0 && (f < 0.5 || top.intensity() == 0.0) {
            self.kelvin
        } else {
            0.0
        };
        Light {
            r: self.r + (top.r - self.r) * f,
            g: self.g + (top.g - self.g) * f,
            b: self.b + (top.b - self.b) * f,
            kelvin,
        }
    }

    /// Highest-takes-precedence merge, per primary.
    pub(crate) fn htp(self, other: Light) -> Light {
        let kelvin = if other.intensity() > self.intensity() {
            other.kelvin
        } else {
            self.kelvin
        };
        Light {
            r: self.r.max(other.r),
            g: self.g.max(other.g),
            b: self.b.max(other.b),
            kelvin,
        }
    }

    /// Scale intensity (a master or a cap).
    pub(crate) fn scaled(self, f: f32) -> Light {
        Light {
            r: self.r * f,
            g: self.g * f,
            b: self.b * f,
            kelvin: self.kelvin,
        }
    }
}

/// CSS Color Module Level 4 named colours (the ones a lighting designer is
/// likely to type), plus a few lighting words.
fn css_name(key: &str) -> Option<&'static str> {
    Some(match key {
        "black" => "000000",
        "white" => "ffffff",
        "red" => "ff0000",
        "lime" => "00ff00",
        "green" => "008000",
        "blue" => "0000ff",
        "yellow" => "ffff00",
        "cyan" | "aqua" => "00ffff",
        "magenta" | "fuchsia" => "ff00ff",
        "orange" => "ffa500",
        "darkorange" => "ff8c00",
        "orangered" => "ff4500",
        "gold" => "ffd700",
        "amber" => "ffbf00",
        "purple" => "800080",
        "violet" => "ee82ee",
        "indigo" => "4b0082",
        "pink" => "ffc0cb",
        "hotpink" => "ff69b4",
        "deeppink" => "ff1493",
        "crimson" => "dc143c",
        "tomato" => "ff6347",
        "coral" => "ff7f50",
        "salmon" => "fa8072",
        "teal" => "008080",
        "turquoise" => "40e0d0",
        "navy" => "000080",
        "royalblue" => "4169e1",
        "dodgerblue" => "1e90ff",
        "deepskyblue" => "00bfff",
        "skyblue" => "87ceeb",
        "steelblue" => "4682b4",
        "mediumblue" => "0000cd",
        "springgreen" => "00ff7f",
        "seagreen" => "2e8b57",
        "forestgreen" => "228b22",
        "lawngreen" => "7cfc00",
        "chartreuse" => "7fff00",
        "olive" => "808000",
        "maroon" => "800000",
        "brown" => "a52a2a",
        "chocolate" => "d2691e",
        "goldenrod" => "daa520",
        "khaki" => "f0e68c",
        "lavender" => "e6e6fa",
        "plum" => "dda0dd",
        "orchid" => "da70d6",
        "silver" => "c0c0c0",
        "gray" | "grey" => "808080",
        "ivory" => "fffff0",
        "beige" => "f5f5dc",
        "linen" => "faf0e6",
        "snow" => "fffafa",
        "warmwhite" => "ffd8a8",
        "coolwhite" => "e8f0ff",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_names_and_kelvin() {
        assert_eq!(Color::parse("#ff0000").unwrap(), Color::rgb(1.0, 0.0, 0.0));
        assert_eq!(Color::parse("#f00").unwrap(), Color::rgb(1.0, 0.0, 0.0));
        assert_eq!(Color::parse("Royal Blue").unwrap().to_string(), "#4169e1");
        let k = Color::parse("3000K").unwrap();
        assert_eq!(k.kelvin, 3000.0);
        assert_eq!(k.r, 1.0);
        assert!(k.b < k.g && k.g < k.r);
        assert!(Color::parse("#ggg").is_err());
        assert!(Color::parse("blurple")
            .unwrap_err()
            .contains("unknown colour"));
        assert!(Color::parse("90000K").is_err());
    }

    #[test]
    fn kelvin_round_trips_through_estimate() {
        for k in [2200.0, 2700.0, 3000.0, 4000.0, 5000.0, 6500.0] {
            let c = kelvin_color(k);
            let e = estimate_kelvin(c.r, c.g, c.b);
            assert!((e - k).abs() / k < 0.03, "{k} -> {e}");
        }
    }

    #[test]
    fn premultiplied_mix_is_a_crossfade() {
        let red = Color::rgb(1.0, 0.0, 0.0).at(1.0);
        let half = Light::DARK.mix(red, 0.5);
        assert_eq!(half.intensity(), 0.5);
        let warm = Color::parse("3000K").unwrap().at(1.0);
        assert_eq!(Light::DARK.mix(warm, 0.2).kelvin, 3000.0);
    }
}
