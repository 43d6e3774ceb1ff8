//! Latency samples and percentiles.

pub struct Samples {
    us: Vec<f64>,
}

impl Samples {
    pub fn with_capacity(n: usize) -> Samples {
        Samples { us: Vec::with_capacity(n) }
    }

    pub fn push_ns(&mut self, ns: u128) {
        self.us.push(ns as f64 / 1000.0);
    }

    pub fn extend(&mut self, other: Samples) {
        self.us.extend(other.us);
    }

    pub fn len(&self) -> usize {
        self.us.len()
    }

    /// Nearest-rank percentile, `p` in 0..=100, in microseconds.
    pub fn percentile(&mut self, p: f64) -> f64 {
        assert!(!self.us.is_empty(), "percentile of no samples");
        self.us.sort_by(|a, b| a.partial_cmp(b).expect("latencies are finite"));
        let rank = ((p / 100.0) * self.us.len() as f64).ceil() as usize;
        self.us[rank.clamp(1, self.us.len()) - 1]
    }
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
