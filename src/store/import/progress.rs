//! What an import shows while it runs: a progress bar with rows/s and ETA on a terminal, a plain
//! line every few seconds otherwise (a log file or a CI job has no use for redraws), and each bad
//! row as it is found.
//!
//! The number of rows is not known before the end, so the total is estimated from the file size
//! and the bytes read so far; the ETA follows from it.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{ImportObserver, RowError};

/// How far an import has got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportProgress {
    /// Lines after the header handled so far, good or bad.
    pub rows: u64,
    pub bytes_read: u64,
    /// The file's size, when known.
    pub total_bytes: Option<u64>,
}

impl ImportProgress {
    /// The rows the whole file probably holds, from the bytes per row so far.
    pub fn estimated_total_rows(&self) -> Option<u64> {
        let total = self.total_bytes?;
        if self.bytes_read == 0 || self.rows == 0 {
            return None;
        }
        let estimate = u128::from(total) * u128::from(self.rows) / u128::from(self.bytes_read);
        Some(u64::try_from(estimate).unwrap_or(u64::MAX).max(self.rows))
    }
}

/// `imported 2,000,000 of ~20,000,000 rows (41,000 rows/s, ETA 7 min)`.
pub fn progress_line(progress: &ImportProgress, elapsed: Duration) -> String {
    let rate = if elapsed.as_secs_f64() > 0.0 {
        progress.rows as f64 / elapsed.as_secs_f64()
    } else {
        0.0
    };
    let mut line = format!("imported {}", thousands(progress.rows));
    if let Some(total) = progress.estimated_total_rows() {
        line.push_str(&format!(" of ~{}", thousands(total)));
    }
    line.push_str(&format!(" rows ({} rows/s", thousands(rate.round() as u64)));
    if let Some(total) = progress.estimated_total_rows()
        && rate > 0.0
    {
        let remaining = total.saturating_sub(progress.rows) as f64 / rate;
        line.push_str(&format!(", ETA {}", duration_text(remaining)));
    }
    line.push(')');
    line
}

/// 1234567 → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn duration_text(seconds: f64) -> String {
    let seconds = seconds.round() as u64;
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", (seconds + 30) / 60),
        _ => format!("{} h {} min", seconds / 3600, (seconds % 3600) / 60),
    }
}

/// How often a plain progress line is printed.
const PLAIN_LINE_EVERY: Duration = Duration::from_secs(5);

/// Shows an import's progress and bad rows on stderr (stdout carries the final counts).
pub struct ProgressReporter {
    /// Prefixed to each bad row: the file name.
    label: String,
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    last: ImportProgress,
}

impl ProgressReporter {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn new(label: String, total_bytes: Option<u64>) -> ProgressReporter {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(total_bytes, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {percent:>3}% {msg} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        let now = Instant::now();
        ProgressReporter {
            label,
            bar,
            started: now,
            last_line: now,
            last: ImportProgress::default(),
        }
    }

    /// Clears the bar, or prints the last plain line.
    pub fn finish(&mut self) {
        match &self.bar {
            Some(bar) => bar.finish_and_clear(),
            None if self.last.rows > 0 => {
                eprintln!("{}", progress_line(&self.last, self.started.elapsed()));
            }
            None => {}
        }
    }
}

impl ImportObserver for ProgressReporter {
    fn row_error(&mut self, error: RowError) {
        let text = format!("{}: {error}", self.label);
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn progress(&mut self, progress: ImportProgress) {
        self.last = progress;
        let elapsed = self.started.elapsed();
        match &self.bar {
            Some(bar) => {
                bar.set_position(progress.bytes_read);
                let rate = progress.rows as f64 / elapsed.as_secs_f64().max(1e-3);
                bar.set_message(format!(
                    "{} rows, {} rows/s",
                    thousands(progress.rows),
                    thousands(rate.round() as u64)
                ));
            }
            None if self.last_line.elapsed() >= PLAIN_LINE_EVERY => {
                self.last_line = Instant::now();
                eprintln!("{}", progress_line(&progress, elapsed));
            }
            None => {}
        }
    }

    fn last_step(&mut self, what: &'static str) {
        let text = format!("{}: every row read; {what}…", self.label);
        match &self.bar {
            Some(bar) => {
                bar.set_message(text);
                bar.enable_steady_tick(Duration::from_millis(250));
            }
            None => {
                eprintln!("{}", progress_line(&self.last, self.started.elapsed()));
                eprintln!("{text}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_gives_rows_rate_estimated_total_and_eta() {
        let progress = ImportProgress {
            rows: 2_000_000,
            bytes_read: 100_000_000,
            total_bytes: Some(1_000_000_000),
        };
        assert_eq!(
            progress_line(&progress, Duration::from_secs_f64(2_000_000.0 / 41_000.0)),
            "imported 2,000,000 of ~20,000,000 rows (41,000 rows/s, ETA 7 min)"
        );
    }

    #[test]
    fn without_a_size_or_a_rate_the_line_says_only_what_is_known() {
        let unknown_size = ImportProgress {
            rows: 1500,
            bytes_read: 60_000,
            total_bytes: None,
        };
        assert_eq!(
            progress_line(&unknown_size, Duration::from_secs(3)),
            "imported 1,500 rows (500 rows/s)"
        );
        assert_eq!(
            progress_line(&ImportProgress::default(), Duration::ZERO),
            "imported 0 rows (0 rows/s)"
        );
    }

    #[test]
    fn numbers_and_durations_read_easily() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(20_000_000), "20,000,000");
        assert_eq!(duration_text(42.4), "42 s");
        assert_eq!(duration_text(420.0), "7 min");
        assert_eq!(duration_text(3_900.0), "1 h 5 min");
    }
}
