//! Where a map's labels go: beside what they name, never over each other
//! or over a fixture, with a leader line when they must stand off, and
//! left out when there is no room (a zoomed-out plan shows fewer labels).
//!
//! Pure geometry in pixels, so every picture of the plan (PNG, SVG, the
//! night's HTML, GIF frames, and later the console) places labels the same
//! way. Greedy by priority: each label takes the first free spot from a
//! fixed order of candidates — the corners and sides of what it names, then
//! rings further out (those with a leader line) — so the result depends
//! only on the input.

/// An axis-aligned box in pixels (y down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl Rect {
    pub(crate) fn new(x: f32, y: f32, w: f32, h: f32) -> Rect {
        Rect { x, y, w, h }
    }

    fn right(&self) -> f32 {
        self.x + self.w
    }

    fn bottom(&self) -> f32 {
        self.y + self.h
    }

    /// Whether the boxes share area (touching edges do not).
    pub(crate) fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.right() && o.x < self.right() && self.y < o.bottom() && o.y < self.bottom()
    }

    fn contains(&self, o: &Rect) -> bool {
        o.x >= self.x && o.y >= self.y && o.right() <= self.right() && o.bottom() <= self.bottom()
    }

    fn grow(&self, d: f32) -> Rect {
        Rect::new(self.x - d, self.y - d, self.w + 2.0 * d, self.h + 2.0 * d)
    }

    fn center(&self) -> [f32; 2] {
        [self.x + self.w / 2.0, self.y + self.h / 2.0]
    }

    /// The point of this box nearest to `p`.
    fn nearest(&self, p: [f32; 2]) -> [f32; 2] {
        [
            p[0].clamp(self.x, self.right()),
            p[1].clamp(self.y, self.bottom()),
        ]
    }
}

/// A label to place: its text's box size, what it names (a zone's box, or
/// a point as a box of no size) and its priority (higher placed first).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Label {
    pub w: f32,
    pub h: f32,
    pub anchor: Rect,
    pub priority: f32,
}

/// Where a label went.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Placed {
    /// The label's box.
    pub at: Rect,
    /// A line from the label's box to what it names, when it stands off.
    pub leader: Option<[[f32; 2]; 2]>,
}

/// Gap between a label and what it names, and between labels.
const GAP: f32 = 3.0;
/// Rings of stand-off positions tried, each a label height further out.
const RINGS: usize = 6;
/// Directions tried on each ring.
const DIRECTIONS: usize = 16;

/// Place `labels` inside `bounds`, avoiding `obstacles` (fixtures' dots,
/// the north arrow) and each other. Returns one entry per label, in input
/// order: `None` for a label left out for want of room.
pub(crate) fn place(labels: &[Label], obstacles: &[Rect], bounds: Rect) -> Vec<Option<Placed>> {
    let grid = Grid::new(obstacles, bounds);
    let mut order: Vec<usize> = (0..labels.len()).collect();
    // Higher priority first; ties in input order (a stable sort).
    order.sort_by(|&a, &b| {
        labels[b]
            .priority
            .partial_cmp(&labels[a].priority)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut taken: Vec<Rect> = Vec::new();
    let mut out = vec![None; labels.len()];
    for i in order {
        let l = &labels[i];
        if !(l.w.is_finite() && l.h.is_finite() && l.w > 0.0 && l.h > 0.0) {
            continue;
        }
        let free = |r: &Rect| {
            bounds.contains(r) && !grid.hits(r) && !taken.iter().any(|t| t.grow(GAP).overlaps(r))
        };
        let found = candidates(l).into_iter().find(|(r, leader)| {
            free(r)
                && leader.is_none_or(|seg| {
                    // A leader crosses no other label.
                    !taken.iter().any(|t| segment_hits(&seg, t))
                })
        });
        if let Some((r, leader)) = found {
            taken.push(r);
            out[i] = Some(Placed { at: r, leader });
        }
    }
    out
}

/// The spots tried for a label, best first: touching the anchor (above
/// its top-left corner — where a zone's name is read first — then the
/// other corners and sides), then further out with a leader line.
fn candidates(l: &Label) -> Vec<(Rect, Option<[[f32; 2]; 2]>)> {
    let a = l.anchor;
    let (w, h) = (l.w, l.h);
    let mut out = Vec::with_capacity(10 + RINGS * DIRECTIONS);
    let touching = [
        (a.x, a.y - GAP - h),                        // above, left-aligned
        (a.right() - w, a.y - GAP - h),              // above, right-aligned
        (a.x, a.bottom() + GAP),                     // below, left-aligned
        (a.right() - w, a.bottom() + GAP),           // below, right-aligned
        (a.right() + GAP, a.y),                      // right, top-aligned
        (a.x - GAP - w, a.y),                        // left, top-aligned
        (a.right() + GAP, a.center()[1] - h / 2.0),  // right, centred
        (a.x - GAP - w, a.center()[1] - h / 2.0),    // left, centred
        (a.center()[0] - w / 2.0, a.y - GAP - h),    // above, centred
        (a.center()[0] - w / 2.0, a.bottom() + GAP), // below, centred
    ];
    for (x, y) in touching {
        out.push((Rect::new(x, y, w, h), None));
    }
    let c = a.center();
    for ring in 1..=RINGS {
        // Past the anchor's half-diagonal, then a label height per ring.
        let reach = (a.w.hypot(a.h) / 2.0) + (h + GAP) * (ring as f32 + 0.5);
        for d in 0..DIRECTIONS {
            // Start straight up, then alternate either side of it.
            let k = d.div_ceil(2) as f32 * if d % 2 == 0 { 1.0 } else { -1.0 };
            let t = std::f32::consts::TAU * k / DIRECTIONS as f32;
            let (dx, dy) = (t.sin(), -t.cos());
            // The label's box centred on the ring point, pushed outward so
            // its near edge is on the ring.
            let px = c[0] + dx * (reach + w / 2.0 * dx.abs());
            let py = c[1] + dy * (reach + h / 2.0 * dy.abs());
            let r = Rect::new(px - w / 2.0, py - h / 2.0, w, h);
            let from = r.nearest(c);
            let to = a.nearest(r.center());
            out.push((r, Some([from, to])));
        }
    }
    out
}

/// Whether the segment crosses the box (sampled: boxes are text-sized).
fn segment_hits(seg: &[[f32; 2]; 2], r: &Rect) -> bool {
    let [p, q] = *seg;
    let len = (q[0] - p[0]).hypot(q[1] - p[1]);
    let steps = (len / 2.0).ceil().max(1.0) as usize;
    (1..steps).any(|i| {
        let t = i as f32 / steps as f32;
        let x = p[0] + (q[0] - p[0]) * t;
        let y = p[1] + (q[1] - p[1]) * t;
        x > r.x && x < r.right() && y > r.y && y < r.bottom()
    })
}

/// Obstacles bucketed by position, so a city of dots costs a few lookups
/// per candidate rather than a scan.
struct Grid {
    cell: f32,
    origin: [f32; 2],
    cols: usize,
    rows: usize,
    buckets: Vec<Vec<Rect>>,
}

impl Grid {
    fn new(obstacles: &[Rect], bounds: Rect) -> Grid {
        let cell = 32.0;
        let cols = ((bounds.w / cell).ceil().max(1.0) as usize).min(4096);
        let rows = ((bounds.h / cell).ceil().max(1.0) as usize).min(4096);
        let mut g = Grid {
            cell,
            origin: [bounds.x, bounds.y],
            cols,
            rows,
            buckets: vec![Vec::new(); cols * rows],
        };
        for o in obstacles {
            if !(o.x.is_finite() && o.y.is_finite() && o.w.is_finite() && o.h.is_finite()) {
                continue;
            }
            let (c0, r0, c1, r1) = g.span(o);
            for r in r0..=r1 {
                for c in c0..=c1 {
                    g.buckets[r * cols + c].push(*o);
                }
            }
        }
        g
    }

    /// The bucket columns and rows a box covers (clamped to the grid).
    fn span(&self, o: &Rect) -> (usize, usize, usize, usize) {
        let col = |x: f32| {
            ((x - self.origin[0]) / self.cell)
                .floor()
                .clamp(0.0, (self.cols - 1) as f32) as usize
        };
        let row = |y: f32| {
            ((y - self.origin[1]) / self.cell)
                .floor()
                .clamp(0.0, (self.rows - 1) as f32) as usize
        };
        (col(o.x), row(o.y), col(o.right()), row(o.bottom()))
    }

    fn hits(&self, r: &Rect) -> bool {
        let (c0, r0, c1, r1) = self.span(r);
        (r0..=r1).any(|row| {
            (c0..=c1).any(|c| {
                self.buckets[row * self.cols + c]
                    .iter()
                    .any(|o| o.overlaps(r))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(x: f32, y: f32, w: f32, h: f32) -> Label {
        Label {
            w: 40.0,
            h: 14.0,
            anchor: Rect::new(x, y, w, h),
            priority: w * h,
        }
    }

    fn all_placed(p: &[Option<Placed>]) -> Vec<Rect> {
        p.iter().flatten().map(|p| p.at).collect()
    }

    /// A label with room goes above its zone's top-left corner, no leader.
    #[test]
    fn a_free_label_sits_on_its_zone() {
        let bounds = Rect::new(0.0, 0.0, 400.0, 300.0);
        let p = place(&[label(100.0, 100.0, 80.0, 40.0)], &[], bounds);
        let got = p[0].as_ref().unwrap();
        assert_eq!(got.at, Rect::new(100.0, 100.0 - GAP - 14.0, 40.0, 14.0));
        assert!(got.leader.is_none());
    }

    /// Zones that start at the same place get labels that do not overlap,
    /// none over a dot, all inside the bounds.
    #[test]
    fn labels_never_overlap_each_other_or_dots() {
        let bounds = Rect::new(0.0, 0.0, 400.0, 300.0);
        let labels: Vec<Label> = (0..6)
            .map(|i| label(150.0, 120.0, 30.0 + i as f32, 30.0))
            .collect();
        // A column of dots right where the first choices would go.
        let dots: Vec<Rect> = (0..20)
            .map(|i| Rect::new(150.0 + i as f32 * 6.0, 100.0, 5.0, 5.0))
            .collect();
        let p = place(&labels, &dots, bounds);
        let boxes = all_placed(&p);
        assert_eq!(boxes.len(), 6, "room for all: {p:?}");
        for (i, a) in boxes.iter().enumerate() {
            assert!(bounds.contains(a));
            assert!(!dots.iter().any(|d| d.overlaps(a)), "{a:?} covers a dot");
            for b in &boxes[i + 1..] {
                assert!(!a.overlaps(b), "{a:?} and {b:?} overlap");
            }
        }
        // The ones that stand off say what they name.
        for (pl, l) in p.iter().flatten().zip(&labels) {
            if let Some([_, to]) = pl.leader {
                let a = l.anchor.grow(0.01);
                assert!(to[0] >= a.x && to[0] <= a.x + a.w && to[1] >= a.y && to[1] <= a.y + a.h);
            }
        }
        assert!(
            p.iter().flatten().any(|p| p.leader.is_some()),
            "some need a leader"
        );
    }

    /// With no room, labels are left out (lowest priority first), never
    /// drawn over one another or off the picture.
    #[test]
    fn crowded_labels_are_left_out_by_priority() {
        let bounds = Rect::new(0.0, 0.0, 120.0, 60.0);
        let mut labels: Vec<Label> = (0..10).map(|_| label(40.0, 20.0, 20.0, 10.0)).collect();
        labels[7].priority = 1e6;
        let p = place(&labels, &[], bounds);
        assert!(p[7].is_some(), "the highest priority is placed");
        let boxes = all_placed(&p);
        assert!(boxes.len() < 10, "not all fit: {}", boxes.len());
        for (i, a) in boxes.iter().enumerate() {
            assert!(bounds.contains(a));
            for b in &boxes[i + 1..] {
                assert!(!a.overlaps(b));
            }
        }
    }

    /// Degenerate input is skipped, not a panic.
    #[test]
    fn bad_input_is_left_out() {
        let bounds = Rect::new(0.0, 0.0, 100.0, 100.0);
        let mut l = label(10.0, 10.0, 5.0, 5.0);
        l.w = f32::NAN;
        let obstacles = [
            Rect::new(f32::NAN, 0.0, 1.0, 1.0),
            Rect::new(-1e9, -1e9, 2e9, 1.0),
        ];
        let p = place(&[l, label(50.0, 50.0, 1.0, 1.0)], &obstacles, bounds);
        assert!(p[0].is_none());
        assert!(p[1].is_some());
        assert!(place(&[], &[], Rect::new(0.0, 0.0, 0.0, 0.0)).is_empty());
    }
}
