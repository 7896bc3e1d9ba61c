//! Plan geometry of a site: polylines in a local metric frame (x east,
//! y north, metres) along which arrays of fixtures are laid out.

/// A polyline with its cumulative lengths precomputed.
#[derive(Debug, Clone)]
pub struct Polyline {
    pub name: String,
    pub points: Vec<[f64; 2]>,
    cumulative: Vec<f64>,
}

impl Polyline {
    /// Needs at least two points; zero-length segments are allowed and skipped.
    pub(crate) fn new(name: String, points: Vec<[f64; 2]>) -> Polyline {
        let mut cumulative = Vec::with_capacity(points.len());
        let mut total = 0.0;
        for (i, p) in points.iter().enumerate() {
            if i > 0 {
                let q = points[i - 1];
                total += ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt();
            }
            cumulative.push(total);
        }
        Polyline {
            name,
            points,
            cumulative,
        }
    }

    pub(crate) fn length(&self) -> f64 {
        self.cumulative.last().copied().unwrap_or(0.0)
    }

    /// Point and heading (unit direction vector) at distance `s` from the
    /// start, clamped to the ends.
    pub(crate) fn at(&self, s: f64) -> ([f64; 2], [f64; 2]) {
        let n = self.points.len();
        if n == 0 {
            return ([0.0, 0.0], [0.0, 1.0]);
        }
        if n == 1 {
            return (self.points[0], [0.0, 1.0]);
        }
        let s = s.clamp(0.0, self.length());
        let mut i = 1;
        while i < n - 1 && self.cumulative[i] < s {
            i += 1;
        }
        let (a, b) = (self.points[i - 1], self.points[i]);
        let seg = self.cumulative[i] - self.cumulative[i - 1];
        let dir = if seg > 0.0 {
            [(b[0] - a[0]) / seg, (b[1] - a[1]) / seg]
        } else {
            [0.0, 1.0]
        };
        let t = s - self.cumulative[i - 1];
        ([a[0] + dir[0] * t, a[1] + dir[1] * t], dir)
    }
}

/// Unit vector of a compass heading in degrees (0 = north/+y, 90 = east/+x).
pub(crate) fn heading_vector(deg: f64) -> [f64; 2] {
    let r = deg.to_radians();
    [r.sin(), r.cos()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_segments() {
        let p = Polyline::new("p".into(), vec![[0.0, 0.0], [0.0, 100.0], [50.0, 100.0]]);
        assert_eq!(p.length(), 150.0);
        let (pt, dir) = p.at(120.0);
        assert_eq!(pt, [20.0, 100.0]);
        assert_eq!(dir, [1.0, 0.0]);
        assert_eq!(p.at(-5.0).0, [0.0, 0.0]);
        assert_eq!(p.at(1e9).0, [50.0, 100.0]);
    }
}
