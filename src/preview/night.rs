//! A whole night at a glance: one row per fixture (by group, then along its
//! path), one column per time step, each cell the fixture's colour; above
//! it the schedule entries, the curfews, sunset and sunrise and the hours.
//! The HTML variant carries the same samples and plays them on the site
//! map, with a scrubber and a speed, without any network.

use super::map::{self, MapLayout};
use super::{name_color, Anchor, Rgba, Sampler, Scene, Shape};
use crate::config::Config;
use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use std::fmt::Write as _;

/// The sampled night.
pub(crate) struct NightData {
    pub date: NaiveDate,
    pub mode: String,
    pub start: DateTime<Utc>,
    pub step_s: f64,
    /// Fixture indices in row order, with the group each row block is under.
    pub rows: Vec<(u32, String)>,
    /// Per step, the colour of every fixture (patch order).
    pub colors: Vec<Vec<[u8; 3]>>,
    /// (show, start, end, priority)
    pub entries: Vec<(String, DateTime<Utc>, DateTime<Utc>, i32)>,
    /// (label, start, end)
    pub curfews: Vec<(String, DateTime<Utc>, DateTime<Utc>)>,
    pub sunset: Option<DateTime<Utc>>,
    pub sunrise: Option<DateTime<Utc>>,
}

impl NightData {
    pub(crate) fn end(&self) -> DateTime<Utc> {
        self.at(self.colors.len())
    }
    pub(crate) fn at(&self, step: usize) -> DateTime<Utc> {
        self.start + Duration::milliseconds((step as f64 * self.step_s * 1000.0).round() as i64)
    }
}

/// The part of night `date` worth drawing: an hour before sunset to an
/// hour after sunrise (the whole noon-to-noon night when the sun does not
/// set or rise).
pub fn span(cfg: &Config, date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let (lo, hi) = cfg.schedule.window(date);
    let n = cfg.schedule.night(date);
    match (n.sunset, n.sunrise) {
        (Some(set), Some(rise)) if set < rise => (
            (set - Duration::hours(1)).max(lo),
            (rise + Duration::hours(1)).min(hi),
        ),
        _ => (lo, hi),
    }
}

/// Rows: fixtures by group (in the site's group order; a fixture under its
/// first group), along their path, then the ungrouped.
pub(crate) fn rows(cfg: &Config) -> Vec<(u32, String)> {
    let site = &cfg.site;
    let mut seen = vec![false; site.fixtures.len()];
    let mut out = Vec::new();
    let mut blocks: Vec<(String, Vec<u32>)> = site
        .groups
        .iter()
        .map(|(g, m)| (g.clone(), m.clone()))
        .collect();
    blocks.push((
        "(no group)".into(),
        (0..site.fixtures.len() as u32).collect(),
    ));
    for (g, members) in blocks {
        let mut m: Vec<u32> = members
            .into_iter()
            .filter(|&f| !std::mem::replace(&mut seen[f as usize], true))
            .collect();
        m.sort_by(|&a, &b| {
            let (fa, fb) = (&site.fixtures[a as usize], &site.fixtures[b as usize]);
            fa.path_distance
                .unwrap_or(f64::INFINITY)
                .total_cmp(&fb.path_distance.unwrap_or(f64::INFINITY))
                .then(a.cmp(&b))
        });
        out.extend(m.into_iter().map(|f| (f, g.clone())));
    }
    out
}

/// Sample the night every `step_s` seconds from `start` to `end`.
pub(crate) fn sample(
    cfg: &Config,
    program: Box<dyn crate::daemon::Program>,
    date: NaiveDate,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    step_s: f64,
) -> NightData {
    let n = cfg.schedule.night(date);
    let mut sampler = Sampler::new(cfg, program);
    let steps = (nightscape_core::engine::seconds_between(start, end) / step_s)
        .ceil()
        .max(1.0) as usize;
    let mut data = NightData {
        date,
        mode: n.mode.clone(),
        start,
        step_s,
        rows: rows(cfg),
        colors: Vec::with_capacity(steps),
        entries: n
            .entries
            .iter()
            .map(|e| (e.show.clone(), e.start, e.end, e.priority))
            .collect(),
        curfews: Vec::new(),
        sunset: n.sunset,
        sunrise: n.sunrise,
    };
    for k in 0..steps {
        let at = data.at(k);
        data.colors.push(sampler.sample(at).fixtures);
    }
    let e = &cfg.energy;
    let mut add = |label: String, c: &crate::energy::Curfew| {
        if let Some((a, b)) = crate::energy::limit::curfew_window(&cfg.schedule, date, c) {
            data.curfews
                .push((format!("{label} max {:.0} %", c.max_level * 100.0), a, b));
        }
    };
    if let Some(c) = &e.curfew {
        add("curfew (site)".into(), c);
    }
    for (g, ge) in &e.groups {
        if let Some(c) = &ge.curfew {
            add(format!("curfew {g}"), c);
        }
    }
    data
}

const INK: Rgba = Rgba(225, 230, 236, 255);
const DIM: Rgba = Rgba(150, 160, 172, 255);
const GRID: Rgba = Rgba(70, 80, 92, 255);

/// The night as a picture `width` pixels wide.
pub(crate) fn scene(cfg: &Config, d: &NightData, width: u32) -> Scene {
    let tz = cfg.site.timezone;
    let left = 190.0f32;
    let right = 20.0f32;
    let steps = d.colors.len().max(1);
    let cw = ((width as f32 - left - right) / steps as f32).max(1.0);
    let grid_w = cw * steps as f32;
    let width = (left + grid_w + right).ceil() as u32;
    let lanes = d.entries.len() + d.curfews.len();
    let top = 70.0 + lanes as f32 * 18.0 + 30.0;
    let rows = d.rows.len().max(1);
    let rh = (700.0 / rows as f32).clamp(2.0, 12.0).floor();
    let height = (top + rows as f32 * rh + 40.0).ceil() as u32;
    let mut s = Scene::new(width, height, map::BACKGROUND);
    let x_of = |t: DateTime<Utc>| {
        left + (nightscape_core::engine::seconds_between(d.start, t) / d.step_s) as f32 * cw
    };
    let clamp_x = |x: f32| x.clamp(left, left + grid_w);
    s.text(
        16.0,
        30.0,
        20.0,
        INK,
        format!(
            "{}: night of {} {} (mode {})",
            cfg.site.name,
            d.date,
            d.date.format("%a"),
            d.mode
        ),
    );
    s.text(
        16.0,
        52.0,
        13.0,
        DIM,
        format!(
            "one row per fixture, one column per {}; times in {}",
            if d.step_s % 60.0 == 0.0 {
                format!("{} min", d.step_s / 60.0)
            } else {
                format!("{} s", d.step_s)
            },
            tz.name()
        ),
    );
    // Lanes: schedule entries, then curfews.
    let mut y = 70.0;
    let lanes_iter = d
        .entries
        .iter()
        .map(|(show, a, b, p)| {
            (
                format!("{show} (priority {p})"),
                *a,
                *b,
                name_color(show, 200),
            )
        })
        .chain(
            d.curfews
                .iter()
                .map(|(l, a, b)| (l.clone(), *a, *b, Rgba(200, 70, 70, 220))),
        );
    for (label, a, b, color) in lanes_iter {
        let (xa, xb) = (clamp_x(x_of(a)), clamp_x(x_of(b)));
        if xb > xa {
            s.shapes.push(Shape::Rect {
                x: xa,
                y,
                w: xb - xa,
                h: 14.0,
                fill: Some(color),
                stroke: None,
            });
        }
        s.shapes.push(Shape::Text {
            x: left - 8.0,
            y: y + 11.0,
            size: 11.0,
            color: INK,
            anchor: Anchor::End,
            text: label,
        });
        y += 18.0;
    }
    // Cells.
    for (r, (f, _)) in d.rows.iter().enumerate() {
        let ry = top + r as f32 * rh;
        // Runs of the same colour become one rectangle.
        let mut k = 0;
        while k < d.colors.len() {
            let c = d.colors[k][*f as usize];
            let mut e = k + 1;
            while e < d.colors.len() && d.colors[e][*f as usize] == c {
                e += 1;
            }
            if c != [0, 0, 0] {
                s.shapes.push(Shape::Rect {
                    x: left + k as f32 * cw,
                    y: ry,
                    w: (e - k) as f32 * cw,
                    h: rh,
                    fill: Some(Rgba::rgb(c)),
                    stroke: None,
                });
            }
            k = e;
        }
    }
    // Group labels and separators.
    let mut r = 0;
    while r < d.rows.len() {
        let g = &d.rows[r].1;
        let mut e = r;
        while e < d.rows.len() && &d.rows[e].1 == g {
            e += 1;
        }
        let (ya, yb) = (top + r as f32 * rh, top + e as f32 * rh);
        s.shapes.push(Shape::Line {
            points: vec![[left - 4.0, ya], [left + grid_w, ya]],
            color: GRID,
            width: 1.0,
            dashed: false,
        });
        s.shapes.push(Shape::Text {
            x: left - 8.0,
            y: (ya + yb) / 2.0 + 4.0,
            size: 12.0,
            color: name_color(g, 255),
            anchor: Anchor::End,
            text: format!("{g} ({})", e - r),
        });
        r = e;
    }
    let bottom = top + d.rows.len() as f32 * rh;
    // Hours.
    let local_start = d.start.with_timezone(&tz);
    let mut h = local_start
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(d.start);
    while h <= d.end() {
        let x = x_of(h);
        if x >= left {
            s.shapes.push(Shape::Line {
                points: vec![[x, top - 6.0], [x, bottom + 4.0]],
                color: Rgba(255, 255, 255, 40),
                width: 1.0,
                dashed: false,
            });
            s.shapes.push(Shape::Text {
                x,
                y: bottom + 20.0,
                size: 12.0,
                color: DIM,
                anchor: Anchor::Middle,
                text: h.with_timezone(&tz).format("%H:%M").to_string(),
            });
        }
        h += Duration::hours(1);
    }
    // Sun.
    for (t, label) in [(d.sunset, "sunset"), (d.sunrise, "sunrise")] {
        if let Some(t) = t {
            let x = x_of(t);
            if (left..=left + grid_w).contains(&x) {
                s.shapes.push(Shape::Line {
                    points: vec![[x, top - 22.0], [x, bottom]],
                    color: Rgba(255, 190, 60, 255),
                    width: 1.5,
                    dashed: true,
                });
                s.shapes.push(Shape::Text {
                    x: x + 4.0,
                    y: top - 12.0,
                    size: 12.0,
                    color: Rgba(255, 190, 60, 255),
                    anchor: Anchor::Start,
                    text: format!("{label} {}", t.with_timezone(&tz).format("%H:%M")),
                });
            }
        }
    }
    s
}

/// The night as one self-contained HTML page: the site map (drawn as SVG)
/// under a canvas that plays the samples, a scrubber, play/pause and a
/// speed. No script or font is fetched.
pub(crate) fn html(cfg: &Config, d: &NightData) -> String {
    let site = &cfg.site;
    let tz = cfg.site.timezone;
    let layout = MapLayout::new(site, 1280, 720);
    let mut plan = Scene::new(layout.width, layout.height, map::BACKGROUND);
    map::draw_plan(site, &layout, &mut plan);
    // Fixtures at their position, dots sized like the cells they hold.
    let mut fx = String::from("[");
    for (i, f) in site.fixtures.iter().enumerate() {
        let p = layout.px(f.position);
        let r = layout
            .radius
            .get(f.first_cell as usize)
            .copied()
            .unwrap_or(3.0)
            .max(1.5);
        let _ = write!(
            fx,
            "{}[{:.1},{:.1},{:.1}]",
            if i > 0 { "," } else { "" },
            p[0],
            p[1],
            r
        );
    }
    fx.push(']');
    let mut bytes = Vec::with_capacity(d.colors.len() * site.fixtures.len() * 3);
    for step in &d.colors {
        for c in step {
            bytes.extend_from_slice(c);
        }
    }
    let labels: Vec<String> = (0..d.colors.len())
        .map(|k| {
            format!(
                "\"{}\"",
                d.at(k).with_timezone(&tz).format("%a %Y-%m-%d %H:%M:%S")
            )
        })
        .collect();
    let title = format!(
        "{}: night of {} (mode {})",
        html_escape(&site.name),
        d.date,
        html_escape(&d.mode)
    );
    let plan_svg = plan.to_svg();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{background:#0b0f14;color:#e1e6ec;font:14px system-ui,sans-serif;margin:16px}}
#stage{{position:relative;width:{w}px;height:{h}px}}
#stage svg,#stage canvas{{position:absolute;left:0;top:0}}
#bar{{display:flex;gap:12px;align-items:center;margin:10px 0;width:{w}px}}
#scrub{{flex:1}} button{{font:inherit}}
</style></head><body>
<h1 style="font-size:18px">{title}</h1>
<div id="bar"><button id="play">▶ play</button>
<input id="scrub" type="range" min="0" max="{last}" value="0">
<label>speed × <input id="speed" type="number" min="1" max="100000" value="600" style="width:6em"></label>
<span id="clock"></span></div>
<div id="stage">{plan_svg}<canvas id="c" width="{w}" height="{h}"></canvas></div>
<p style="color:#96a0ac">Times in {tz}. Dots are fixtures, drawn larger than to scale, in the display colour of the DMX the site sends (as <code>nightscape render</code>); one sample every {step} s.</p>
<script>
const FX={fx};
const N={nf};
const LABELS=[{labels}];
const RAW=atob("{b64}");
const STEP={step};
const c=document.getElementById('c').getContext('2d');
const scrub=document.getElementById('scrub');
const clock=document.getElementById('clock');
function draw(k){{
  c.clearRect(0,0,{w},{h});
  const o=k*N*3;
  for(let i=0;i<N;i++){{
    const r=RAW.charCodeAt(o+3*i),g=RAW.charCodeAt(o+3*i+1),b=RAW.charCodeAt(o+3*i+2);
    const f=FX[i];
    c.beginPath();c.arc(f[0],f[1],f[2]+1,0,7);c.fillStyle='#505a66';c.fill();
    c.beginPath();c.arc(f[0],f[1],f[2],0,7);c.fillStyle='rgb('+r+','+g+','+b+')';c.fill();
  }}
  clock.textContent=LABELS[k];
}}
let playing=false,pos=0,last=0;
function tick(t){{
  if(playing){{
    const dt=last?(t-last)/1000:0;
    pos+=dt*Number(document.getElementById('speed').value||1)/STEP;
    if(pos>{last}){{pos=0;}}
    const k=Math.floor(pos);
    if(String(k)!==scrub.value){{scrub.value=k;draw(k);}}
  }}
  last=t;requestAnimationFrame(tick);
}}
scrub.oninput=()=>{{pos=Number(scrub.value);draw(pos);}};
document.getElementById('play').onclick=e=>{{playing=!playing;e.target.textContent=playing?'❚❚ pause':'▶ play';}};
draw(0);requestAnimationFrame(tick);
</script></body></html>
"#,
        w = layout.width,
        h = layout.height,
        last = d.colors.len().saturating_sub(1),
        tz = tz.name(),
        step = d.step_s,
        nf = site.fixtures.len(),
        labels = labels.join(","),
        b64 = base64(&bytes),
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Standard base64 (the page decodes it with `atob`).
fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                s.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(super::base64(&[255, 0, 128]), "/wCA");
    }
}
