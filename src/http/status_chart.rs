//! The status page's chart: the last 24 hours as grouped bars (calls, resets, mismatches,
//! lock-outs per hour), drawn on the server as inline SVG so the page needs no script and
//! nothing from another host. Every value it prints goes through maud, which escapes it.

use maud::{Markup, html};

use crate::store::HourFigures;

/// One kind of bar.
pub struct Series {
    /// The CSS class (its colour, src/http/status_page.rs) and the table's `data-field`.
    pub class: &'static str,
    /// The legend's and the table's words.
    pub name: &'static str,
    pub value: fn(&HourFigures) -> i64,
}

/// The series, in bar order.
pub const SERIES: [Series; 4] = [
    Series {
        class: "calls",
        name: "calls",
        value: |h| h.calls,
    },
    Series {
        class: "resets",
        name: "resets",
        value: |h| h.resets,
    },
    Series {
        class: "mismatches",
        name: "mismatches",
        value: |h| h.mismatches,
    },
    Series {
        class: "lockouts",
        name: "lock-outs",
        value: |h| h.lockouts,
    },
];

// The drawing's own units (the SVG scales to the page's width).
const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
const PLOT_WIDTH: f64 = WIDTH - LEFT - RIGHT;
const PLOT_HEIGHT: f64 = HEIGHT - TOP - BOTTOM;
/// The space between two hours' groups of bars, as a share of an hour's slot.
const GROUP_GAP: f64 = 0.2;

/// The value axis: its top, the smallest of 1, 2, 5, 10, 20, 50… not below the largest value,
/// and a gridline every `step`, also a round number (1 → 1, 10 → 2, 20 → 5, 50 → 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Axis {
    pub top: i64,
    pub step: i64,
}

impl Axis {
    pub fn for_max(max: i64) -> Axis {
        let mut decade: i64 = 1;
        loop {
            // (top, step) for 1, 2 and 5 times this decade.
            let choices = [
                (decade, (decade / 5).max(1)),
                (decade.saturating_mul(2), (decade / 2).max(1)),
                (decade.saturating_mul(5), decade),
            ];
            for (top, step) in choices {
                if top >= max || top == i64::MAX {
                    return Axis { top, step };
                }
            }
            decade = decade.saturating_mul(10);
        }
    }

    /// The gridlines' values, 0 and the top included.
    pub fn ticks(self) -> impl Iterator<Item = i64> {
        (0..=self.top / self.step).map(move |i| i * self.step)
    }
}

/// A bar's height in drawing units for `value` on an axis up to `top`.
pub fn bar_height(value: i64, top: i64) -> f64 {
    if top <= 0 {
        return 0.0;
    }
    PLOT_HEIGHT * (value.clamp(0, top) as f64) / (top as f64)
}

/// The chart of `hours` (oldest first).
pub fn hourly_chart(hours: &[HourFigures]) -> Markup {
    let max = hours
        .iter()
        .flat_map(|h| SERIES.iter().map(move |series| (series.value)(h)))
        .max()
        .unwrap_or(0);
    let axis = Axis::for_max(max);
    let top = axis.top;
    let slot = PLOT_WIDTH / hours.len().max(1) as f64;
    let bar = slot * (1.0 - GROUP_GAP) / SERIES.len() as f64;
    html! {
        svg id="chart" class="chart" viewBox=(format!("0 0 {WIDTH} {HEIGHT}"))
            role="img" aria-label="Calls, resets, mismatches and lock-outs per hour, last 24 hours" {
            @for tick in axis.ticks() {
                @let y = TOP + PLOT_HEIGHT - bar_height(tick, top);
                line class="grid" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(px(y)) y2=(px(y)) {}
                text class="tick" x=(LEFT - 6.0) y=(px(y + 4.0)) text-anchor="end" { (tick) }
            }
            @for (i, hour) in hours.iter().enumerate() {
                @let group_x = LEFT + slot * i as f64 + slot * GROUP_GAP / 2.0;
                @let label = hour_label(hour);
                @for (s, series) in SERIES.iter().enumerate() {
                    @let v = (series.value)(hour);
                    @if v > 0 {
                        @let h = bar_height(v, top);
                        rect class=(series.class) x=(px(group_x + bar * s as f64)) y=(px(TOP + PLOT_HEIGHT - h))
                            width=(px(bar)) height=(px(h)) {
                            title { (label) ": " (v) " " (series.name) }
                        }
                    }
                }
                @if hour.start.hour() % 3 == 0 {
                    text class="tick" x=(px(LEFT + slot * (i as f64 + 0.5))) y=(px(HEIGHT - 8.0))
                        text-anchor="middle" { (format!("{:02}:00", hour.start.hour())) }
                }
            }
            @if max == 0 {
                text class="empty" x=(px(LEFT + PLOT_WIDTH / 2.0)) y=(px(TOP + PLOT_HEIGHT / 2.0))
                    text-anchor="middle" { "No calls in the last 24 hours" }
            }
        }
    }
}

/// `10:00–11:00`, the hour a bar stands for.
fn hour_label(hour: &HourFigures) -> String {
    let end = (hour.start.hour() + 1) % 24;
    format!("{:02}:00–{end:02}:00", hour.start.hour())
}

/// A coordinate with one decimal: enough for a screen, short in the page.
fn px(value: f64) -> String {
    format!("{value:.1}")
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use time::macros::datetime;

    use super::*;

    fn hours(values: &[(i64, i64, i64, i64)]) -> Vec<HourFigures> {
        let first = datetime!(2026-12-01 11:00 +07:00);
        values
            .iter()
            .enumerate()
            .map(|(i, &(calls, resets, mismatches, lockouts))| HourFigures {
                start: first + Duration::hours(i as i64),
                calls,
                resets,
                mismatches,
                lockouts,
            })
            .collect()
    }

    #[test]
    fn the_axis_ends_on_a_round_number_at_or_above_the_largest_value() {
        let axes: Vec<(i64, i64)> = [0, 1, 2, 3, 5, 6, 10, 11, 20, 21, 99, 100, 101, 4999]
            .into_iter()
            .map(Axis::for_max)
            .map(|a| (a.top, a.step))
            .collect();
        let expected = [
            (1, 1),
            (1, 1),
            (2, 1),
            (5, 1),
            (5, 1),
            (10, 2),
            (10, 2),
            (20, 5),
            (20, 5),
            (50, 10),
            (100, 20),
            (100, 20),
            (200, 50),
            (5000, 1000),
        ];
        assert_eq!(axes, expected);
        assert_eq!(Axis::for_max(i64::MAX).top, i64::MAX);
        let ticks: Vec<i64> = Axis::for_max(17).ticks().collect();
        assert_eq!(ticks, [0, 5, 10, 15, 20]);
    }

    #[test]
    fn bars_scale_to_the_axis_and_never_leave_the_plot() {
        assert_eq!(bar_height(0, 10), 0.0);
        assert_eq!(bar_height(10, 10), PLOT_HEIGHT);
        assert_eq!(bar_height(5, 10), PLOT_HEIGHT / 2.0);
        assert_eq!(bar_height(20, 10), PLOT_HEIGHT, "clamped");
        assert_eq!(bar_height(-3, 10), 0.0);
        assert_eq!(bar_height(1, 0), 0.0);
    }

    #[test]
    fn each_non_zero_value_is_a_bar_with_its_hour_and_number() {
        let mut values = vec![(0, 0, 0, 0); 24];
        values[0] = (4, 1, 2, 1);
        values[23] = (10, 0, 0, 0);
        let svg = hourly_chart(&hours(&values)).into_string();
        assert_eq!(svg.matches("<rect ").count(), 5, "{svg}");
        assert!(svg.contains("<title>11:00–12:00: 4 calls</title>"), "{svg}");
        assert!(
            svg.contains("<title>11:00–12:00: 1 lock-outs</title>"),
            "{svg}"
        );
        assert!(
            svg.contains("<title>10:00–11:00: 10 calls</title>"),
            "{svg}"
        );
        // The tallest bar fills the plot: 10 calls on an axis to 10.
        let tallest = format!("height=\"{}\"", px(PLOT_HEIGHT));
        assert!(svg.contains(&tallest), "{svg}");
        assert!(svg.contains(">12:00</text>") && !svg.contains(">11:00</text>"));
        assert!(!svg.contains("No calls"));
    }

    #[test]
    fn an_empty_day_draws_the_axes_and_says_so() {
        let svg = hourly_chart(&hours(&[(0, 0, 0, 0); 24])).into_string();
        assert_eq!(svg.matches("<rect ").count(), 0);
        assert!(svg.contains("No calls in the last 24 hours"), "{svg}");
        assert!(svg.contains(">1</text>"), "an axis to 1: {svg}");
        let nothing = hourly_chart(&[]).into_string();
        assert!(nothing.contains("No calls"), "{nothing}");
    }
}
