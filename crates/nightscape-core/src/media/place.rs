//! Where a picture lands on a layer's cells, and what each cell shows.
//!
//! A layer's cells are points in a 2-D frame in metres: `p` to the right
//! and `q` up — east and north in plan, or `u` and `v` on a surface — so
//! "the picture's top" is north in plan and up on a facade, whatever the
//! facade's heading. The picture is laid over the box the cells' footprints
//! cover (the box of their centres grown by half a pitch on each side, so a
//! 30 × 60 picture on a 30 × 60 pixel grid lands one picture pixel on one
//! cell) by `fit`, then moved by `x`/`y`, `scale` and `rotate`.
//!
//! Sampling is honest: a cell shows the average of the picture over its
//! footprint (a pitch-sized box around it, carried into picture pixels),
//! each pixel weighted by how much of it the footprint covers, averaged in
//! linear light (sRGB decoded first) — so a fine checkerboard under a
//! coarse grid is an even grey, not an alias of whichever pixel sits under
//! the cell centre. Alpha is coverage: a cell gets the colour of the
//! visible pixels of its footprint and a coverage, the share of the
//! footprint they cover (transparent pixels and the area outside the
//! picture cover nothing), so the engine lets the layers below show
//! through the rest (`crate::engine`: LTP mixes by opacity × coverage).
//! Each cell's colour is kept sRGB-encoded in 8 bits — the `#rrggbb` a
//! screen would show for that light — premultiplied by its coverage as an
//! image editor composites over black (the cell's look over a dark site),
//! and plays as that hex colour would written as `color`, so the picture's
//! colours and the show's agree.

use super::Picture;

/// How the picture fills the box of the layer's cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fit {
    /// Corners on the box's corners; the picture's aspect is not kept.
    #[default]
    Stretch,
    /// The whole picture inside the box, aspect kept (dark bars).
    Contain,
    /// The box filled, aspect kept (the picture's overflow cut off).
    Cover,
}

impl Fit {
    pub fn parse(word: &str) -> Option<Fit> {
        match word.trim().to_ascii_lowercase().as_str() {
            "stretch" => Some(Fit::Stretch),
            "contain" => Some(Fit::Contain),
            "cover" => Some(Fit::Cover),
            _ => None,
        }
    }
}

/// How the picture is placed: fit, then moved.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub fit: Fit,
    /// Offset to the right, as a share of the box's width.
    pub x: f64,
    /// Offset up, as a share of the box's height.
    pub y: f64,
    /// Size factor after fitting (1 = as fitted).
    pub scale: f64,
    /// Clockwise turn about the picture's centre, degrees.
    pub rotate: f64,
}

impl Default for Placement {
    fn default() -> Self {
        Placement {
            fit: Fit::Stretch,
            x: 0.0,
            y: 0.0,
            scale: 1.0,
            rotate: 0.0,
        }
    }
}

/// sRGB-encoded 8-bit value → linear light, 0..=1.
pub fn srgb_to_linear(v: u8) -> f32 {
    LINEAR[v as usize]
}

/// The 256 linear values of 8-bit sRGB (IEC 61966-2-1), built at compile
/// time so the frame loop reads a table.
pub static LINEAR: [f32; 256] = linear_table();

const fn linear_table() -> [f32; 256] {
    // const fn cannot call powf: x^2.4 as exp(2.4 ln x) by series would be
    // long; instead a rational approximation is avoided and the table is
    // computed by Newton steps on the power (exact to f32 here).
    let mut t = [0.0f32; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as f64 / 255.0;
        t[i] = if c <= 0.04045 {
            (c / 12.92) as f32
        } else {
            pow24((c + 0.055) / 1.055) as f32
        };
        i += 1;
    }
    t
}

/// x^2.4 for x in 0..=1 in const context: x² × x^0.4, with x^0.4 = (x²)^(1/5)
/// found by Newton's method on y⁵ = x².
const fn pow24(x: f64) -> f64 {
    let a = x * x;
    if a == 0.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut k = 0;
    while k < 60 {
        let y4 = y * y * y * y;
        y -= (y4 * y - a) / (5.0 * y4);
        k += 1;
    }
    a * y
}

/// Linear light 0..=1 → the nearest 8-bit sRGB value: a table of the
/// nearest value for each of 4,096 bins, then the neighbours compared
/// (sRGB's steps in linear light are wider than a bin, so the nearest is
/// the table's value or one beside it): exact, without powf or a search.
pub fn linear_to_srgb(l: f32) -> u8 {
    let l = if l.is_nan() { 0.0 } else { l.clamp(0.0, 1.0) };
    let c = TO_SRGB[((l * (BINS - 1) as f32) as usize).min(BINS - 1)] as usize;
    let mut best = c;
    for k in [c.saturating_sub(1), (c + 1).min(255)] {
        if (LINEAR[k] - l).abs() < (LINEAR[best] - l).abs() {
            best = k;
        }
    }
    best as u8
}

const BINS: usize = 4096;

/// The 8-bit sRGB value nearest to the centre of each linear-light bin.
static TO_SRGB: [u8; BINS] = to_srgb_table();

const fn to_srgb_table() -> [u8; BINS] {
    let lin = linear_table();
    let mut t = [0u8; BINS];
    let (mut b, mut c) = (0, 0);
    while b < BINS {
        let l = (b as f32 + 0.5) / (BINS - 1) as f32;
        // Codes rise with l: move on while the next one is nearer.
        while c < 255 && (lin[c + 1] - l).abs() <= (lin[c] - l).abs() {
            c += 1;
        }
        t[b] = c as u8;
        b += 1;
    }
    t
}

/// One cell's footprint in picture pixels: x0..x1 across, y0..y1 down.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Footprint {
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
}

/// A layer's cells as footprints over pictures of one size, worked out
/// once; [`Sampler::sample`] then averages a picture under each.
#[derive(Debug, Clone)]
pub struct Sampler {
    width: u32,
    height: u32,
    feet: Vec<Footprint>,
}

/// The spacing of cells along each axis: a grid's column and row pitch,
/// else (cells strewn about) the side of the square each would have if
/// they shared their box evenly. One row or column takes the other pitch.
pub fn pitch(points: &[[f64; 2]]) -> [f64; 2] {
    let n = points.len();
    if n < 2 {
        return [1.0, 1.0];
    }
    let distinct = |k: usize| -> (usize, f64) {
        let mut v: Vec<f64> = points.iter().map(|p| p[k]).collect();
        v.sort_by(f64::total_cmp);
        let span = v[n - 1] - v[0];
        // Values within a centimetre (or a thousandth of the span) are one.
        let tol = (span * 1e-3).max(0.01);
        let mut count = 1;
        for w in v.windows(2) {
            if w[1] - w[0] > tol {
                count += 1;
            }
        }
        (count, span)
    };
    let (cols, w) = distinct(0);
    let (rows, h) = distinct(1);
    let step = |count: usize, span: f64| (count > 1).then(|| span / (count - 1) as f64);
    let (sp, sq) = (step(cols, w), step(rows, h));
    if cols * rows <= 2 * n {
        // A grid (or near one): its own pitches.
        match (sp, sq) {
            (Some(a), Some(b)) => [a, b],
            (Some(a), None) => [a, a],
            (None, Some(b)) => [b, b],
            (None, None) => [1.0, 1.0],
        }
    } else {
        let area = w.max(1e-3) * h.max(1e-3);
        let s = (area / n as f64).sqrt();
        [s, s]
    }
}

impl Sampler {
    /// Footprints of cells at `points` (metres, p right, q up) for pictures
    /// of `width` × `height`, placed by `placement`.
    pub fn new(points: &[[f64; 2]], placement: &Placement, width: u32, height: u32) -> Sampler {
        let [pp, pq] = pitch(points);
        let (mut lo, mut hi) = ([f64::MAX; 2], [f64::MIN; 2]);
        for p in points {
            for k in 0..2 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        if points.is_empty() {
            lo = [0.0; 2];
            hi = [0.0; 2];
        }
        // The box the footprints cover.
        let bw = hi[0] - lo[0] + pp;
        let bh = hi[1] - lo[1] + pq;
        let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
        let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
        // Metres per picture pixel, across and down.
        let (sx, sy) = match placement.fit {
            Fit::Stretch => (bw / w, bh / h),
            Fit::Contain => {
                let s = (bw / w).min(bh / h);
                (s, s)
            }
            Fit::Cover => {
                let s = (bw / w).max(bh / h);
                (s, s)
            }
        };
        let scale = if placement.scale.is_finite() && placement.scale > 0.0 {
            placement.scale
        } else {
            1.0
        };
        let (sx, sy) = (sx * scale, sy * scale);
        let (sin, cos) = placement.rotate.to_radians().sin_cos();
        let shift = [placement.x * bw, placement.y * bh];
        // The footprint's half sides in metres, turned with the picture:
        // the box around the turned footprint, in picture pixels.
        let (hp, hq) = (pp / 2.0, pq / 2.0);
        let ex = (cos.abs() * hp + sin.abs() * hq) / sx;
        let ey = (sin.abs() * hp + cos.abs() * hq) / sy;
        let feet = points
            .iter()
            .map(|p| {
                let dx = p[0] - centre[0] - shift[0];
                let dy = p[1] - centre[1] - shift[1];
                // Undo the picture's clockwise turn.
                let rx = dx * cos - dy * sin;
                let ry = dx * sin + dy * cos;
                let px = w / 2.0 + rx / sx;
                let py = h / 2.0 - ry / sy;
                Footprint {
                    x0: (px - ex) as f32,
                    y0: (py - ey) as f32,
                    x1: (px + ex) as f32,
                    y1: (py + ey) as f32,
                }
            })
            .collect();
        Sampler {
            width,
            height,
            feet,
        }
    }

    pub fn cells(&self) -> usize {
        self.feet.len()
    }

    /// Each cell's average of `picture` (which must be the size this
    /// sampler was made for) into `out`, sRGB-encoded and premultiplied by
    /// the cell's coverage, which goes to `cover` (255: the footprint all
    /// opaque picture; 0: nothing of the picture shows there).
    pub fn sample(&self, picture: &Picture, out: &mut [[u8; 3]], cover: &mut [u8]) {
        debug_assert_eq!((picture.width, picture.height), (self.width, self.height));
        debug_assert_eq!(out.len(), cover.len());
        let (w, h) = (picture.width as usize, picture.height as usize);
        for ((o, c), f) in out.iter_mut().zip(cover.iter_mut()).zip(&self.feet) {
            let area = f64::from(f.x1 - f.x0) * f64::from(f.y1 - f.y0);
            *o = [0, 0, 0];
            *c = 0;
            if w == 0 || h == 0 || area <= 0.0 || !area.is_finite() {
                continue;
            }
            let cx0 = f.x0.max(0.0);
            let cx1 = f.x1.min(w as f32);
            let cy0 = f.y0.max(0.0);
            let cy1 = f.y1.min(h as f32);
            // Light × alpha and alpha, each weighted by the share of the
            // pixel the footprint covers (straight alpha in).
            let mut sum = [0.0f64; 4];
            if cx1 > cx0 && cy1 > cy0 {
                let (i0, i1) = (cx0.floor() as usize, (cx1.ceil() as usize).min(w));
                let (j0, j1) = (cy0.floor() as usize, (cy1.ceil() as usize).min(h));
                for j in j0..j1 {
                    let wy = (cy1.min(j as f32 + 1.0) - cy0.max(j as f32)).max(0.0);
                    if wy <= 0.0 {
                        continue;
                    }
                    let row = &picture.rgba[j * w..(j + 1) * w];
                    let mut rs = [0.0f32; 4];
                    for (i, px) in row.iter().enumerate().take(i1).skip(i0) {
                        let wx = (cx1.min(i as f32 + 1.0) - cx0.max(i as f32)).max(0.0);
                        let a = wx * f32::from(px[3]) / 255.0;
                        rs[0] += a * LINEAR[px[0] as usize];
                        rs[1] += a * LINEAR[px[1] as usize];
                        rs[2] += a * LINEAR[px[2] as usize];
                        rs[3] += a;
                    }
                    for k in 0..4 {
                        sum[k] += f64::from(rs[k]) * f64::from(wy);
                    }
                }
            }
            let coverage = (sum[3] / area).clamp(0.0, 1.0);
            let c8 = (coverage * 255.0).round() as u8;
            if c8 == 0 {
                continue;
            }
            // The visible pixels' colour (averaged in linear light), then
            // premultiplied by the coverage kept, in the 8-bit values the
            // engine mixes (so coverage 255 is the colour itself).
            let k = f64::from(c8) / 255.0;
            let straight = |v: f64| f64::from(linear_to_srgb((v / sum[3]) as f32));
            *o = [0, 1, 2].map(|i| (straight(sum[i]) * k).round().min(255.0) as u8);
            *c = c8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 4]) -> Picture {
        let mut p = Picture::blank(w, h);
        for y in 0..h {
            for x in 0..w {
                p.rgba[(y * w + x) as usize] = f(x, y);
            }
        }
        p
    }

    /// A grid of `cols` × `rows` cells 1 m apart, row by row from the
    /// bottom-left (q up).
    fn grid(cols: usize, rows: usize) -> Vec<[f64; 2]> {
        (0..rows)
            .flat_map(|r| (0..cols).map(move |c| [c as f64, r as f64]))
            .collect()
    }

    fn sample(points: &[[f64; 2]], pl: &Placement, pic: &Picture) -> Vec<[u8; 3]> {
        let s = Sampler::new(points, pl, pic.width, pic.height);
        let mut out = vec![[0u8; 3]; points.len()];
        let mut cover = vec![0u8; points.len()];
        s.sample(pic, &mut out, &mut cover);
        out
    }

    #[test]
    fn srgb_table_round_trips_and_matches_the_formula() {
        for v in 0..=255u8 {
            let c = f64::from(v) / 255.0;
            let want = if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            };
            assert!((f64::from(srgb_to_linear(v)) - want).abs() < 1e-6, "{v}");
            assert_eq!(linear_to_srgb(srgb_to_linear(v)), v);
        }
    }

    #[test]
    fn linear_to_srgb_is_the_nearest_value() {
        for k in 0..=100_000 {
            let l = k as f32 / 100_000.0;
            let nearest = (0..=255u8)
                .min_by(|&a, &b| {
                    (srgb_to_linear(a) - l)
                        .abs()
                        .total_cmp(&(srgb_to_linear(b) - l).abs())
                })
                .unwrap();
            let got = linear_to_srgb(l);
            // Ties (equally near) may go either way.
            assert!(
                got == nearest
                    || (srgb_to_linear(got) - l).abs() == (srgb_to_linear(nearest) - l).abs(),
                "{l}: {got} vs {nearest}"
            );
        }
        assert_eq!(linear_to_srgb(-1.0), 0);
        assert_eq!(linear_to_srgb(2.0), 255);
        assert_eq!(linear_to_srgb(f32::NAN), 0);
    }

    #[test]
    fn one_pixel_per_cell_lands_exactly_with_the_top_up() {
        // 4 × 3 picture, every pixel its own colour; 4 × 3 grid.
        let pic = picture(4, 3, |x, y| [x as u8 * 60, y as u8 * 100, 7, 255]);
        let pts = grid(4, 3);
        let out = sample(&pts, &Placement::default(), &pic);
        for (k, p) in pts.iter().enumerate() {
            let (col, row_up) = (p[0] as u8, p[1] as u8);
            // The picture's top row (y = 0) is the grid's top row (q = 2).
            let y = 2 - row_up;
            assert_eq!(out[k], [col * 60, y * 100, 7], "cell {p:?}");
        }
    }

    #[test]
    fn a_fine_checkerboard_averages_to_grey_not_an_alias() {
        // 40 × 40 checkerboard of black and white pixels on a 4 × 4 grid:
        // each cell covers 10 × 10 pixels, half white (linear 0.5).
        let pic = picture(40, 40, |x, y| {
            let v = if (x + y) % 2 == 0 { 255 } else { 0 };
            [v, v, v, 255]
        });
        let out = sample(&grid(4, 4), &Placement::default(), &pic);
        let grey = linear_to_srgb(0.5);
        assert_eq!(grey, 188);
        for o in out {
            assert_eq!(o, [grey; 3]);
        }
    }

    #[test]
    fn a_gradient_is_sampled_at_each_cells_share_of_it() {
        // A horizontal ramp 0..255 over 256 pixels onto 8 cells in a row:
        // each cell averages its 32 pixels in linear light.
        let pic = picture(256, 1, |x, _| [x as u8, x as u8, x as u8, 255]);
        let pts: Vec<[f64; 2]> = (0..8).map(|c| [c as f64 * 2.0, 0.0]).collect();
        let out = sample(&pts, &Placement::default(), &pic);
        for (c, o) in out.iter().enumerate() {
            let mean: f32 = (c * 32..(c + 1) * 32)
                .map(|x| srgb_to_linear(x as u8))
                .sum::<f32>()
                / 32.0;
            assert_eq!(o[0], linear_to_srgb(mean), "cell {c}");
        }
        assert!(out.windows(2).all(|w| w[0][0] < w[1][0]));
    }

    #[test]
    fn contain_leaves_dark_bars_and_cover_crops() {
        // A square white picture on a 4 wide × 2 high grid.
        let pic = picture(10, 10, |_, _| [255, 255, 255, 255]);
        let pts = grid(4, 2);
        let contain = Placement {
            fit: Fit::Contain,
            ..Placement::default()
        };
        let out = sample(&pts, &contain, &pic);
        // The picture is 2 m wide, centred: columns 1 and 2 lit, 0 and 3 dark.
        for (k, p) in pts.iter().enumerate() {
            let lit = p[0] == 1.0 || p[0] == 2.0;
            assert_eq!(out[k], if lit { [255; 3] } else { [0; 3] }, "{p:?}");
        }
        // Cover: a picture with a red left half, blue right half, 4 × 2 grid
        // 2 high: the picture is 4 m × 4 m, the grid sees its middle band.
        let pic = picture(10, 10, |_, y| {
            if y < 5 {
                [255, 0, 0, 255]
            } else {
                [0, 0, 255, 255]
            }
        });
        let cover = Placement {
            fit: Fit::Cover,
            ..Placement::default()
        };
        let out = sample(&pts, &cover, &pic);
        for (k, p) in pts.iter().enumerate() {
            // Top row (q = 1) in the picture's red top half, bottom row blue.
            let want = if p[1] == 1.0 {
                [255, 0, 0]
            } else {
                [0, 0, 255]
            };
            assert_eq!(out[k], want, "{p:?}");
        }
        // Stretch: the whole picture, top half red on the top row.
        let out = sample(&pts, &Placement::default(), &pic);
        for (k, p) in pts.iter().enumerate() {
            let want = if p[1] == 1.0 {
                [255, 0, 0]
            } else {
                [0, 0, 255]
            };
            assert_eq!(out[k], want, "{p:?}");
        }
    }

    #[test]
    fn rotate_and_move_shift_the_picture() {
        // Left half white, right half black, on a 2 × 2 grid.
        let pic = picture(2, 2, |x, _| {
            if x == 0 {
                [255, 255, 255, 255]
            } else {
                [0, 0, 0, 255]
            }
        });
        let pts = grid(2, 2);
        // Turned 90° clockwise: the left half goes to the top.
        let turned = Placement {
            rotate: 90.0,
            ..Placement::default()
        };
        let out = sample(&pts, &turned, &pic);
        for (k, p) in pts.iter().enumerate() {
            let want = if p[1] == 1.0 { [255; 3] } else { [0; 3] };
            assert_eq!(out[k], want, "{p:?}");
        }
        // Moved right by half the box: the white half lands on the right
        // column, the left column is off the picture (dark).
        let moved = Placement {
            x: 0.5,
            ..Placement::default()
        };
        let out = sample(&pts, &moved, &pic);
        for (k, p) in pts.iter().enumerate() {
            let want = if p[0] == 1.0 { [255; 3] } else { [0; 3] };
            assert_eq!(out[k], want, "{p:?}");
        }
    }

    fn sample_covered(points: &[[f64; 2]], pic: &Picture) -> (Vec<[u8; 3]>, Vec<u8>) {
        let s = Sampler::new(points, &Placement::default(), pic.width, pic.height);
        let mut out = vec![[0u8; 3]; points.len()];
        let mut cover = vec![0u8; points.len()];
        s.sample(pic, &mut out, &mut cover);
        (out, cover)
    }

    #[test]
    fn transparent_pixels_cover_nothing_and_half_alpha_covers_half() {
        // Transparent, half transparent and opaque white, one pixel a cell.
        let pic = picture(3, 1, |x, _| [255, 255, 255, [0, 128, 255][x as usize]]);
        let pts = [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]];
        let (out, cover) = sample_covered(&pts, &pic);
        assert_eq!(cover, vec![0, 128, 255]);
        // Over black as an image editor composites: white × coverage.
        assert_eq!(out, vec![[0; 3], [128; 3], [255; 3]]);
    }

    #[test]
    fn coverage_is_the_share_of_the_footprint_the_visible_pixels_cover() {
        // Two cells over a 4 × 1 picture: the left cell's half opaque red,
        // half transparent; the right cell's half transparent, half green
        // at alpha 128.
        let pic = picture(4, 1, |x, _| match x {
            0 => [255, 0, 0, 255],
            3 => [0, 255, 0, 128],
            _ => [9, 9, 9, 0],
        });
        let (out, cover) = sample_covered(&[[0.0, 0.0], [1.0, 0.0]], &pic);
        assert_eq!(cover, vec![128, 64]);
        // The colour is the visible pixels' own (transparent ones do not
        // darken it), premultiplied by the coverage.
        assert_eq!(out[0], [128, 0, 0]);
        assert_eq!(out[1], [0, 64, 0]);
        // Off the picture is uncovered too.
        let moved = Sampler::new(
            &[[0.0, 0.0], [1.0, 0.0]],
            &Placement {
                x: 0.5,
                ..Placement::default()
            },
            1,
            1,
        );
        let (mut o, mut c) = (vec![[7u8; 3]; 2], vec![7u8; 2]);
        moved.sample(&picture(1, 1, |_, _| [255; 4]), &mut o, &mut c);
        assert_eq!((o[0], c[0]), ([0; 3], 0));
    }

    #[test]
    fn pitch_of_a_grid_and_of_strewn_cells() {
        assert_eq!(pitch(&grid(5, 3)), [1.0, 1.0]);
        let wide: Vec<[f64; 2]> = (0..4).map(|c| [c as f64 * 3.0, 0.0]).collect();
        assert_eq!(pitch(&wide), [3.0, 3.0]);
    }
}
