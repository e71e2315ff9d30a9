//! What a load run measured: a fixed-bucket histogram for the per-packet numbers (recording is
//! one array increment, so 100,000 packets a second cost nothing), exact percentiles for the
//! per-call numbers (one sample per call), and the report printed and written as JSON.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// Width of one histogram bucket.
const BUCKET: Duration = Duration::from_micros(10);
/// 10 µs buckets up to 200 ms; anything longer lands in the overflow (and still counts in max).
const BUCKETS: usize = 20_000;

/// A histogram of durations with 10 µs resolution up to 200 ms, plus the exact maximum.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    overflow: u64,
    total: u64,
    max: Duration,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            overflow: 0,
            total: 0,
            max: Duration::ZERO,
        }
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("total", &self.total)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Histogram {
    pub fn record(&mut self, value: Duration) {
        let index = (value.as_nanos() / BUCKET.as_nanos()) as usize;
        match self.counts.get_mut(index) {
            Some(count) => *count += 1,
            None => self.overflow += 1,
        }
        self.total += 1;
        self.max = self.max.max(value);
    }

    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub fn max(&self) -> Duration {
        self.max
    }

    /// The nearest-rank `p`-th percentile (0 < p ≤ 100), as the lower edge of its bucket (never
    /// above the maximum); an overflowing rank reports the maximum. Zero when empty.
    pub fn percentile(&self, p: f64) -> Duration {
        let Some(rank) = nearest_rank(p, self.total) else {
            return Duration::ZERO;
        };
        let mut seen = 0u64;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return (BUCKET * i as u32).min(self.max);
            }
        }
        self.max
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.overflow += other.overflow;
        self.total += other.total;
        self.max = self.max.max(other.max);
    }
}

/// The 1-based rank of the `p`-th percentile of `n` values (nearest-rank method).
fn nearest_rank(p: f64, n: u64) -> Option<u64> {
    if n == 0 {
        return None;
    }
    let rank = (p / 100.0 * n as f64).ceil() as u64;
    Some(rank.clamp(1, n))
}

/// The nearest-rank percentile of `sorted` (ascending). Zero when empty.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    match nearest_rank(p, sorted.len() as u64) {
        Some(rank) => sorted[(rank - 1) as usize],
        None => 0.0,
    }
}

/// p50, p99 and max in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spread {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Spread {
    pub fn of_samples(samples: &mut [f64]) -> Spread {
        samples.sort_by(f64::total_cmp);
        Spread {
            p50: percentile_sorted(samples, 50.0),
            p99: percentile_sorted(samples, 99.0),
            max: samples.last().copied().unwrap_or(0.0),
        }
    }

    pub fn of_histogram(h: &Histogram) -> Spread {
        Spread {
            p50: ms(h.percentile(50.0)),
            p99: ms(h.percentile(99.0)),
            max: ms(h.max()),
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The RTP part of the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RtpReport {
    /// Packets received from the service, all calls.
    pub packets: u64,
    /// Packets missing from the service's sequence numbers, all calls.
    pub lost: u64,
    /// |inter-arrival gap − 20 ms| of consecutive packets of a call.
    pub deviation_ms: Spread,
    /// Packets sent to the service, all calls.
    pub sent: u64,
    /// Packets from an address that is no call's (late packets of a finished call, mostly).
    pub stray: u64,
}

/// The result of a run. The first keys are a contract with the benchmark script: keep them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub flow: String,
    pub attempted: u64,
    pub answered: u64,
    pub completed: u64,
    pub failed: u64,
    pub failures: BTreeMap<String, u64>,
    pub outcomes: BTreeMap<String, u64>,
    pub setup_ms: Spread,
    pub rtp: RtpReport,
    pub elapsed_s: f64,
    /// Sum over answered calls of 200 OK → end.
    pub call_seconds: f64,
    /// CPU time (user + system) of the generator's own threads.
    pub generator_cpu_s: f64,
    /// CPU time of the whole process: equals the above from the CLI; more when the service runs
    /// in the same process (the integration tests).
    pub process_cpu_s: f64,
    /// Most calls up at once.
    pub peak_concurrent: u64,
}

impl Report {
    pub fn to_json(&self) -> String {
        // A struct of numbers, strings and string-keyed maps always serialises.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "flow {}: {} attempted, {} answered, {} completed, {} failed in {:.1} s (peak {} up)",
            self.flow,
            self.attempted,
            self.answered,
            self.completed,
            self.failed,
            self.elapsed_s,
            self.peak_concurrent
        )?;
        for (reason, n) in &self.failures {
            writeln!(f, "  failed: {n} × {reason}")?;
        }
        let outcomes: Vec<String> = self
            .outcomes
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(o, n)| format!("{o} {n}"))
            .collect();
        if !outcomes.is_empty() {
            writeln!(f, "outcomes: {}", outcomes.join(", "))?;
        }
        let s = self.setup_ms;
        writeln!(
            f,
            "set-up (INVITE → 200): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            s.p50, s.p99, s.max
        )?;
        let d = self.rtp.deviation_ms;
        writeln!(
            f,
            "RTP received {} (lost {}, stray {}), sent {}; |gap − 20 ms| p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            self.rtp.packets, self.rtp.lost, self.rtp.stray, self.rtp.sent, d.p50, d.p99, d.max
        )?;
        let per_call_second = if self.call_seconds > 0.0 {
            self.generator_cpu_s / self.call_seconds * 1000.0
        } else {
            0.0
        };
        write!(
            f,
            "{:.1} call-seconds; generator CPU {:.2} s ({:.1} % of one core, {:.3} ms per call-second)",
            self.call_seconds,
            self.generator_cpu_s,
            if self.elapsed_s > 0.0 {
                self.generator_cpu_s / self.elapsed_s * 100.0
            } else {
                0.0
            },
            per_call_second
        )
    }
}

/// How one call went, as the control loop hands it over.
#[derive(Debug, Clone, Default)]
pub struct CallRecord {
    /// INVITE sent → first 200 OK; `None` when never answered.
    pub setup: Option<Duration>,
    /// 200 OK → end.
    pub talk: Duration,
    /// `None` is a completed call.
    pub failure: Option<String>,
    /// What was heard (the reset flow).
    pub outcome: Option<&'static str>,
    pub packets: u64,
    pub lost: u64,
}

/// Adds calls up into a [`Report`].
#[derive(Debug, Default)]
pub struct Collector {
    report: Report,
    setups_ms: Vec<f64>,
}

impl Collector {
    /// `outcomes` are listed with 0 so the JSON always has the keys.
    pub fn new(flow: &str, outcomes: &[&str]) -> Collector {
        let mut report = Report {
            flow: flow.to_owned(),
            ..Report::default()
        };
        for o in outcomes {
            report.outcomes.insert((*o).to_owned(), 0);
        }
        Collector {
            report,
            setups_ms: Vec::new(),
        }
    }

    pub fn attempted(&mut self) {
        self.report.attempted += 1;
    }

    pub fn attempted_count(&self) -> u64 {
        self.report.attempted
    }

    pub fn completed_count(&self) -> u64 {
        self.report.completed
    }

    pub fn failed_count(&self) -> u64 {
        self.report.failed
    }

    pub fn record(&mut self, call: CallRecord) {
        let r = &mut self.report;
        if let Some(setup) = call.setup {
            r.answered += 1;
            self.setups_ms.push(ms(setup));
            r.call_seconds += call.talk.as_secs_f64();
        }
        match call.failure {
            None => r.completed += 1,
            Some(reason) => {
                r.failed += 1;
                *r.failures.entry(reason).or_default() += 1;
            }
        }
        if let Some(outcome) = call.outcome {
            *r.outcomes.entry(outcome.to_owned()).or_default() += 1;
        }
        r.rtp.packets += call.packets;
        r.rtp.lost += call.lost;
    }

    /// The report, with the numbers only the end of the run knows.
    pub fn finish(mut self, elapsed: Duration, deviation: &Histogram) -> Report {
        self.report.setup_ms = Spread::of_samples(&mut self.setups_ms);
        self.report.rtp.deviation_ms = Spread::of_histogram(deviation);
        self.report.elapsed_s = elapsed.as_secs_f64();
        self.report
    }

    pub fn report_mut(&mut self) -> &mut Report {
        &mut self.report
    }
}

/// CPU time (user + system) of the calling thread.
pub fn thread_cpu() -> Duration {
    rusage(libc::RUSAGE_THREAD)
}

/// CPU time (user + system) of the whole process.
pub fn process_cpu() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: getrusage writes one `rusage` into the zeroed struct we own; it has no other
    // effect, and with a valid `who` and pointer it cannot fail.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(who, &mut usage) != 0 {
            return Duration::ZERO;
        }
        usage
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn histogram_percentiles_of_known_data() {
        let mut h = Histogram::default();
        // 1..=100 × 100 µs: p50 is the 50th value (5 ms), p99 the 99th (9.9 ms).
        for i in 1..=100 {
            h.record(us(100 * i));
        }
        assert_eq!(h.len(), 100);
        assert_eq!(h.percentile(50.0), us(5_000));
        assert_eq!(h.percentile(99.0), us(9_900));
        assert_eq!(h.percentile(100.0), us(10_000));
        assert_eq!(h.max(), us(10_000));
        // Bucket resolution is 10 µs: 5,004 µs reports as 5,000 µs.
        let mut one = Histogram::default();
        one.record(us(5_004));
        assert_eq!(one.percentile(50.0), us(5_000));
    }

    #[test]
    fn histogram_overflow_counts_and_reports_the_maximum() {
        let mut h = Histogram::default();
        h.record(us(10));
        h.record(Duration::from_secs(3));
        assert_eq!(h.percentile(50.0), us(10));
        assert_eq!(h.percentile(99.0), Duration::from_secs(3));
        assert_eq!(Histogram::default().percentile(99.0), Duration::ZERO);
    }

    #[test]
    fn merged_histograms_add_up() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(us(20));
        b.record(us(40));
        b.record(us(60));
        a.merge(&b);
        assert_eq!(a.len(), 3);
        assert_eq!(a.percentile(50.0), us(40));
        assert_eq!(a.max(), us(60));
    }

    #[test]
    fn exact_percentiles_of_samples() {
        let mut samples: Vec<f64> = (1..=200).rev().map(f64::from).collect();
        let s = Spread::of_samples(&mut samples);
        assert_eq!(
            s,
            Spread {
                p50: 100.0,
                p99: 198.0,
                max: 200.0
            }
        );
        assert_eq!(Spread::of_samples(&mut []), Spread::default());
        assert_eq!(Spread::of_samples(&mut [7.5]).p99, 7.5);
    }

    #[test]
    fn the_json_has_the_keys_the_benchmark_reads() {
        let json: serde_json::Value = serde_json::from_str(&Report::default().to_json()).unwrap();
        for key in [
            "flow",
            "attempted",
            "answered",
            "completed",
            "failed",
            "failures",
            "outcomes",
            "setup_ms",
            "rtp",
            "elapsed_s",
            "call_seconds",
            "generator_cpu_s",
        ] {
            assert!(json.get(key).is_some(), "{key} missing");
        }
        for key in ["p50", "p99", "max"] {
            assert!(json["setup_ms"].get(key).is_some());
            assert!(json["rtp"]["deviation_ms"].get(key).is_some());
        }
        assert!(json["rtp"]["packets"].is_u64() && json["rtp"]["lost"].is_u64());
    }

    #[test]
    fn the_collector_counts_calls_failures_and_outcomes() {
        let mut c = Collector::new("reset", &["reset", "mismatch", "unknown"]);
        for _ in 0..3 {
            c.attempted();
        }
        let ms = Duration::from_millis;
        c.record(CallRecord {
            setup: Some(ms(4)),
            talk: Duration::from_secs(20),
            outcome: Some("reset"),
            packets: 1000,
            ..CallRecord::default()
        });
        c.record(CallRecord {
            setup: Some(ms(8)),
            talk: Duration::from_secs(10),
            failure: Some("outcome mismatch".into()),
            outcome: Some("mismatch"),
            packets: 500,
            lost: 2,
        });
        c.record(CallRecord {
            failure: Some("status 503".into()),
            ..CallRecord::default()
        });
        let r = c.finish(Duration::from_secs(30), &Histogram::default());
        assert_eq!(
            (r.attempted, r.answered, r.completed, r.failed),
            (3, 2, 1, 2)
        );
        assert_eq!(r.failures["status 503"], 1);
        assert_eq!(r.failures["outcome mismatch"], 1);
        assert_eq!(
            (
                r.outcomes["reset"],
                r.outcomes["mismatch"],
                r.outcomes["unknown"]
            ),
            (1, 1, 0)
        );
        assert_eq!(
            r.setup_ms,
            Spread {
                p50: 4.0,
                p99: 8.0,
                max: 8.0
            }
        );
        assert_eq!((r.rtp.packets, r.rtp.lost), (1500, 2));
        assert_eq!(r.call_seconds, 30.0);
    }

    #[test]
    fn cpu_time_is_measured() {
        let start = thread_cpu();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu() >= start);
        assert!(process_cpu() >= thread_cpu());
    }
}
