//! The server's own fan-out latency over the measurement window, from its Prometheus
//! histogram `tickcast_fanout_seconds` (tick computed → the room's last socket write for
//! it returned, one sample per room per tick): `GET /metrics` is scraped right before the
//! window and right after it, and the difference of the cumulative bucket counts is the
//! window's histogram.
//!
//! The parsing and the quantile estimate are pure functions ([`parse_histogram`],
//! [`fan_out_between`]); [`scrape`] only fetches the text. A server that cannot be
//! scraped never fails a run: the figures are then absent.

use crate::matchmake::{split_response, MatchError};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The server's histogram of one room's fan-out per tick, in seconds.
pub const FAN_OUT_METRIC: &str = "tickcast_fanout_seconds";
/// A scrape (connect, request, whole answer) must finish within this.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest `/metrics` answer read.
const MAX_ANSWER: usize = 4 << 20;

/// A Prometheus histogram as exposed: cumulative counts by upper bound (`le`, seconds,
/// ascending, `+Inf` last), their sum and count. Several label sets of the same metric
/// are summed into one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BucketHistogram {
    /// `(le, cumulative count)`, ascending by `le`.
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

impl BucketHistogram {
    /// Adds `other`'s counts to this one's, bucket by bucket (another server, another
    /// label set). A bound only one side has is taken as it is.
    pub fn add(&mut self, other: &BucketHistogram) {
        for &(le, n) in &other.buckets {
            match self.buckets.iter_mut().find(|(l, _)| *l == le) {
                Some((_, m)) => *m += n,
                None => self.buckets.push((le, n)),
            }
        }
        self.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.sum += other.sum;
        self.count += other.count;
    }

    /// What was recorded between `before` and `self` (a later scrape of the same
    /// metric): the difference of every cumulative count, and of sum and count.
    pub fn since(&self, before: &BucketHistogram) -> BucketHistogram {
        let earlier = |le: f64| before.buckets.iter().find(|(l, _)| *l == le).map_or(0, |b| b.1);
        BucketHistogram {
            buckets: self.buckets.iter().map(|&(le, n)| (le, n.saturating_sub(earlier(le)))).collect(),
            sum: (self.sum - before.sum).max(0.0),
            count: self.count.saturating_sub(before.count),
        }
    }

    /// The value at quantile `q` (0..=1), in seconds, **estimated from the buckets** as
    /// Prometheus's `histogram_quantile` does: the bucket holding rank `q × count` is
    /// found, and the value interpolated linearly between its lower and upper bound (the
    /// first bucket starts at 0). A rank in the `+Inf` bucket answers the largest finite
    /// bound (the value is at least that). `None` without samples.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.buckets.last().map_or(0, |b| b.1);
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let (mut lower, mut below) = (0.0, 0u64);
        for &(le, n) in &self.buckets {
            if n as f64 >= rank && n > below {
                if le.is_infinite() {
                    return Some(lower);
                }
                return Some(lower + (le - lower) * (rank - below as f64) / (n - below) as f64);
            }
            if le.is_finite() {
                lower = le;
            }
            below = below.max(n);
        }
        Some(lower)
    }

    /// The mean from sum and count, in seconds; `None` without samples.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// Histogram `name` in a Prometheus text exposition: its `<name>_bucket{le="…"}`,
/// `<name>_sum` and `<name>_count` lines, every label set summed. Empty when the text has
/// none of them (a server exposes a histogram only once something was recorded).
pub fn parse_histogram(text: &str, name: &str) -> BucketHistogram {
    let mut h = BucketHistogram::default();
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        let Some(rest) = line.strip_prefix(name) else { continue };
        let (suffix, rest) = rest.split_at(rest.find(['{', ' ', '\t']).unwrap_or(rest.len()));
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => match r.split_once('}') {
                Some((labels, value)) => (labels, value),
                None => continue,
            },
            None => ("", rest),
        };
        // The value, then maybe a timestamp.
        let Some(value) = value.split_whitespace().next().and_then(parse_number) else { continue };
        match suffix {
            "_bucket" => {
                let Some(le) = label(labels, "le").and_then(parse_number) else { continue };
                h.add(&BucketHistogram { buckets: vec![(le, value.max(0.0) as u64)], sum: 0.0, count: 0 });
            }
            "_sum" => h.sum += value,
            "_count" => h.count += value.max(0.0) as u64,
            _ => {}
        }
    }
    h
}

/// The value of label `key` in `a="x",b="y"` (no escapes: bounds and names have none).
fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

/// A sample value or bound: a float, `+Inf`, `-Inf` or `NaN`.
fn parse_number(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// The servers' fan-out over the window, from their `/metrics` texts before and after
/// it (the same servers in the same order), summed over servers. The quantiles are bucket
/// estimates (see [`BucketHistogram::quantile`]); the mean is exact (sum ÷ count).
#[derive(Debug, Clone, PartialEq)]
pub struct FanOut {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
    /// Room ticks fanned out in the window (the histogram's count).
    pub samples: u64,
}

/// [`FanOut`] between two scrapes of each server; `None` when nothing was recorded in
/// between, or when the two lists do not pair up.
pub fn fan_out_between(before: &[String], after: &[String]) -> Option<FanOut> {
    if before.len() != after.len() || before.is_empty() {
        return None;
    }
    let mut window = BucketHistogram::default();
    for (b, a) in before.iter().zip(after) {
        let (b, a) = (parse_histogram(b, FAN_OUT_METRIC), parse_histogram(a, FAN_OUT_METRIC));
        window.add(&a.since(&b));
    }
    Some(FanOut {
        p50_ms: window.quantile(0.5)? * 1e3,
        p99_ms: window.quantile(0.99)? * 1e3,
        mean_ms: window.mean()? * 1e3,
        samples: window.count,
    })
}

/// The `/metrics` text of every server in `addrs` (in order); `None`, after a warning,
/// when one of them does not answer it.
pub async fn scrape(addrs: &[(SocketAddr, String)]) -> Option<Vec<String>> {
    let mut texts = Vec::with_capacity(addrs.len());
    for (addr, host) in addrs {
        match tokio::time::timeout(SCRAPE_TIMEOUT, get(*addr, host, "/metrics")).await {
            Ok(Ok(text)) => texts.push(text),
            Ok(Err(e)) => return warn(host, &e),
            Err(_) => return warn(host, "timed out"),
        }
    }
    Some(texts)
}

fn warn<T>(host: &str, why: &str) -> Option<T> {
    eprintln!("warning: GET http://{host}/metrics: {why}; no server fan-out figures");
    None
}

/// One `GET` with `Connection: close`: the body of a 200 answer (up to its
/// `Content-Length`, or to the end of the stream without one).
async fn get(addr: SocketAddr, host: &str, path: &str) -> Result<String, String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        let n = stream.read_buf(&mut buf).await.map_err(|e| format!("read: {e}"))?;
        match split_response(&buf, n == 0) {
            Some(Ok((200, body))) => return Ok(String::from_utf8_lossy(body).into_owned()),
            Some(Ok((status, _))) => return Err(format!("answered {status}")),
            Some(Err(MatchError::Io(why) | MatchError::Invalid(why) | MatchError::Status(_, why))) => return Err(why),
            None if n == 0 => return Err("connection closed before a complete answer".into()),
            None if buf.len() > MAX_ANSWER => return Err("answer too long".into()),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What metrics-exporter-prometheus renders for `tickcast_fanout_seconds` (the
    /// `_seconds` buckets of `src/metrics.rs`), with a neighbour that shares its prefix.
    const BEFORE: &str = "\
# TYPE tickcast_tick_duration_seconds histogram
tickcast_tick_duration_seconds_bucket{le=\"0.001\"} 7
tickcast_tick_duration_seconds_sum 0.003
tickcast_tick_duration_seconds_count 7

# TYPE tickcast_fanout_seconds histogram
tickcast_fanout_seconds_bucket{le=\"0.0001\"} 0
tickcast_fanout_seconds_bucket{le=\"0.00025\"} 0
tickcast_fanout_seconds_bucket{le=\"0.0005\"} 2
tickcast_fanout_seconds_bucket{le=\"0.001\"} 10
tickcast_fanout_seconds_bucket{le=\"0.0025\"} 10
tickcast_fanout_seconds_bucket{le=\"0.005\"} 10
tickcast_fanout_seconds_bucket{le=\"0.01\"} 10
tickcast_fanout_seconds_bucket{le=\"0.025\"} 10
tickcast_fanout_seconds_bucket{le=\"0.05\"} 10
tickcast_fanout_seconds_bucket{le=\"0.1\"} 10
tickcast_fanout_seconds_bucket{le=\"0.25\"} 10
tickcast_fanout_seconds_bucket{le=\"+Inf\"} 10
tickcast_fanout_seconds_sum 0.007
tickcast_fanout_seconds_count 10
tickcast_fanout_seconds_total_bogus 99
";

    /// 100 more: 40 in (0.5, 1] ms, 50 in (1, 2.5] ms, 9 in (2.5, 5] ms, 1 above 250 ms.
    const AFTER: &str = "\
# TYPE tickcast_fanout_seconds histogram
tickcast_fanout_seconds_bucket{le=\"0.0001\"} 0
tickcast_fanout_seconds_bucket{le=\"0.00025\"} 0
tickcast_fanout_seconds_bucket{le=\"0.0005\"} 2
tickcast_fanout_seconds_bucket{le=\"0.001\"} 50
tickcast_fanout_seconds_bucket{le=\"0.0025\"} 100
tickcast_fanout_seconds_bucket{le=\"0.005\"} 109
tickcast_fanout_seconds_bucket{le=\"0.01\"} 109
tickcast_fanout_seconds_bucket{le=\"0.025\"} 109
tickcast_fanout_seconds_bucket{le=\"0.05\"} 109
tickcast_fanout_seconds_bucket{le=\"0.1\"} 109
tickcast_fanout_seconds_bucket{le=\"0.25\"} 109
tickcast_fanout_seconds_bucket{le=\"+Inf\"} 110
tickcast_fanout_seconds_sum 0.507
tickcast_fanout_seconds_count 110
";

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn parses_one_histogram_and_ignores_its_neighbours() {
        let h = parse_histogram(BEFORE, FAN_OUT_METRIC);
        assert_eq!(h.buckets.len(), 12);
        assert_eq!(h.buckets[2], (0.0005, 2));
        assert_eq!(h.buckets[11], (f64::INFINITY, 10));
        assert_eq!(h.count, 10);
        assert!(close(h.sum, 0.007));
        assert_eq!(parse_histogram("# nothing here\n", FAN_OUT_METRIC), BucketHistogram::default());
    }

    #[test]
    fn label_sets_and_servers_are_summed() {
        let text = "x_bucket{room=\"a\",le=\"0.1\"} 1\nx_bucket{le=\"0.1\",room=\"b\"} 2 1700000000\n\
                    x_bucket{le=\"+Inf\"} 4\nx_sum{room=\"a\"} 0.5\nx_count 4\n";
        let mut h = parse_histogram(text, "x");
        assert_eq!(h.buckets, vec![(0.1, 3), (f64::INFINITY, 4)]);
        h.add(&parse_histogram(text, "x"));
        assert_eq!(h.buckets, vec![(0.1, 6), (f64::INFINITY, 8)]);
        assert_eq!(h.count, 8);
    }

    #[test]
    fn quantiles_interpolate_within_the_window_buckets() {
        let w = parse_histogram(AFTER, FAN_OUT_METRIC).since(&parse_histogram(BEFORE, FAN_OUT_METRIC));
        assert_eq!(w.count, 100);
        // Rank 50 is the 10th of the 50 samples in (1, 2.5] ms.
        assert!(close(w.quantile(0.5).unwrap(), 0.001 + 0.0015 * 10.0 / 50.0));
        // Rank 99 is the 9th of the 9 in (2.5, 5] ms: its upper bound.
        assert!(close(w.quantile(0.99).unwrap(), 0.005));
        // Rank 100 is in +Inf: the largest finite bound, a lower bound of the value.
        assert!(close(w.quantile(1.0).unwrap(), 0.25));
        assert!(close(w.quantile(0.1).unwrap(), 0.0005 + 0.0005 * 10.0 / 40.0));
        assert!(close(w.mean().unwrap(), 0.005));
    }

    #[test]
    fn fan_out_between_scrapes() {
        let f = fan_out_between(&[BEFORE.into()], &[AFTER.into()]).unwrap();
        assert_eq!(f.samples, 100);
        assert!((f.p50_ms - 1.3).abs() < 1e-9, "{f:?}");
        assert!((f.p99_ms - 5.0).abs() < 1e-9, "{f:?}");
        assert!((f.mean_ms - 5.0).abs() < 1e-9, "{f:?}");
        // Two servers: the same window on each doubles the counts, not the quantiles.
        let two = fan_out_between(&[BEFORE.into(), BEFORE.into()], &[AFTER.into(), AFTER.into()]).unwrap();
        assert_eq!(two.samples, 200);
        assert!((two.p50_ms - f.p50_ms).abs() < 1e-9);
        // Nothing recorded in the window, or the metric not exposed yet before it.
        assert_eq!(fan_out_between(&[AFTER.into()], &[AFTER.into()]), None);
        assert_eq!(fan_out_between(&[String::new()], &[AFTER.into()]).map(|f| f.samples), Some(110));
        assert_eq!(fan_out_between(&[], &[]), None);
    }
}
