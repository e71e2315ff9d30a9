//! The status page's HTML: what the node is doing now, and what the last 24 hours and today
//! came to (src/store/status.rs says where each figure comes from). One self-contained page:
//! inline style, inline SVG, no script, nothing from another host, and a refresh every
//! [`REFRESH_SECONDS`] by a meta tag.
//!
//! It shows counts and sums only: no caller's number, code, personal ID, Call-ID or password is
//! ever read to make it. maud escapes every value it prints all the same.
//!
//! The figures a test or a script reads have stable ids and `data-` attributes: `#calls-up`,
//! `#readiness`, `#today` (`data-day`), `#today-calls`, `#today-minutes`, `#today-amount`, the
//! hourly table `#hours` (rows `data-hour`, cells `data-field`) and its totals `#totals`.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use time::OffsetDateTime;
use time::macros::format_description;

use super::status_chart::{SERIES, hourly_chart};
use crate::domain::LocalOffset;
use crate::store::{Amount, HourFigures, StatusFigures, thousands};

/// How often the page reloads itself.
pub const REFRESH_SECONDS: u32 = 10;

/// Everything the page shows.
pub struct StatusView<'a> {
    pub node: &'a str,
    pub version: &'a str,
    /// Calls holding a slot on this node now (ringing or answered).
    pub calls_up: usize,
    /// Why the node is not ready (`/readyz`'s reason), or `None` when it is.
    pub not_ready: Option<String>,
    pub offset: LocalOffset,
    pub generated_at: OffsetDateTime,
    /// `billing.currency`, shown with a zero amount before anything is billed today.
    pub currency: &'a str,
    /// `None` when the database did not answer.
    pub figures: Option<&'a StatusFigures>,
}

const STYLE: &str = "
body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5rem auto; max-width: 1200px; color: #1d2330; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin: 0; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .3rem; }
.meta, .note { color: #5b6475; font-size: .85rem; margin: .2rem 0; }
.tiles { display: grid; gap: 1rem; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr)); margin-top: 1rem; }
.tile { border: 1px solid #d5d9e2; border-radius: 6px; padding: .6rem 1rem; }
.tile .label { color: #5b6475; font-size: .8rem; }
.tile .value { font-size: 1.6rem; font-weight: 600; }
.ready { color: #23823a; } .not-ready { color: #b3261e; }
.alert { background: #fdecea; border: 1px solid #b3261e; color: #b3261e; padding: .6rem 1rem; border-radius: 6px; margin-top: 1rem; font-weight: 600; }
.chart { width: 100%; height: auto; }
.chart .grid { stroke: #e3e6ec; } .chart .tick { font-size: 11px; fill: #5b6475; }
.chart .empty { font-size: 15px; fill: #5b6475; }
.calls { fill: #4c78a8; background: #4c78a8; } .resets { fill: #54a24b; background: #54a24b; }
.mismatches { fill: #f58518; background: #f58518; } .lockouts { fill: #e45756; background: #e45756; }
.legend span.swatch { display: inline-block; width: .8rem; height: .8rem; margin: 0 .3rem 0 1rem; vertical-align: -1px; }
table { border-collapse: collapse; margin-top: .5rem; font-variant-numeric: tabular-nums; }
th, td { padding: .15rem .8rem; text-align: right; border-bottom: 1px solid #eceef2; }
th:first-child { text-align: left; }
";

const TIME: &[time::format_description::BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
);
const HOUR: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:00");
const HOUR_ATTR: &[time::format_description::BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day]T[hour]:00[offset_hour sign:mandatory]:[offset_minute]"
);

/// The whole page.
pub fn render(view: &StatusView<'_>) -> String {
    let generated_at = view.generated_at.to_offset(view.offset.get());
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="refresh" content=(REFRESH_SECONDS);
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "hotline · " (view.node) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "hotline status" }
                p.meta {
                    "node " strong #node { (view.node) } " · version " span #version { (view.version) }
                    " · " time #generated-at datetime=(formatted(generated_at, TIME)) { (formatted(generated_at, TIME)) }
                    " · refreshes every " (REFRESH_SECONDS) " s"
                }
                (tiles(view))
                @if view.figures.is_some() {
                    p.note {
                        "Today: the local day (UTC" (view.offset) ") of every node sharing this "
                        "database. A call still up counts as a call now and is billed when it ends."
                    }
                } @else {
                    p.alert #database-unreachable {
                        "Database unreachable: no figures for today or the last 24 hours until it "
                        "answers. Calls up now and readiness are this node's own."
                    }
                }
                (last_24_hours(view))
            }
        }
    };
    page.into_string()
}

fn tiles(view: &StatusView<'_>) -> Markup {
    html! {
        div.tiles {
            div.tile {
                div.label { "Calls up now (this node)" }
                div.value #calls-up { (view.calls_up) }
            }
            div.tile {
                div.label { "Readiness (/readyz)" }
                @match &view.not_ready {
                    None => div.value.ready #readiness data-ready="true" { "ready" },
                    Some(reason) => div.value.not-ready #readiness data-ready="false" { "not ready: " (reason) },
                }
            }
            @if let Some(figures) = view.figures {
                @let today = &figures.today;
                div.tile #today data-day=(today.day) {
                    div.label { "Calls today " (today.day) }
                    div.value #today-calls { (thousands_i64(today.calls)) }
                }
                div.tile {
                    div.label { "Billed minutes today" }
                    div.value #today-minutes { (thousands_i64(today.billed_minutes)) }
                }
                div.tile {
                    div.label { "Amount today" }
                    div.value #today-amount { (amounts(&today.amounts, view.currency)) }
                }
            }
        }
    }
}

fn last_24_hours(view: &StatusView<'_>) -> Markup {
    let Some(figures) = view.figures else {
        return html! {};
    };
    html! {
        section #last-24-hours {
            h2 { "Last 24 hours, per hour" }
            p.note {
                "Clock hours in local time (UTC" (view.offset) ", billing.utc_offset), the last one "
                "the hour in progress; every node sharing this database. Calls: answered in the "
                "hour, calls in progress included. Resets, mismatches, lock-outs: how those calls "
                "ended, counted once they end (as hotline cdr report --by outcome)."
            }
            (hourly_chart(&figures.hours))
            p.legend {
                @for series in &SERIES {
                    span.swatch.(series.class) {} (series.name)
                }
            }
            (hour_table(&figures.hours))
        }
    }
}

/// Newest hour first; the totals under it.
fn hour_table(hours: &[HourFigures]) -> Markup {
    html! {
        table #hours {
            thead {
                tr {
                    th { "hour" }
                    @for series in &SERIES { th { (series.name) } }
                }
            }
            tbody {
                @for hour in hours.iter().rev() {
                    tr data-hour=(formatted(hour.start, HOUR_ATTR)) {
                        th { (formatted(hour.start, HOUR)) }
                        @for series in &SERIES {
                            td data-field=(series.class) { (thousands_i64((series.value)(hour))) }
                        }
                    }
                }
            }
            tfoot {
                tr #totals {
                    th { "24 hours" }
                    @for series in &SERIES {
                        td data-field=(series.class) { (thousands_i64(hours.iter().map(series.value).sum())) }
                    }
                }
            }
        }
    }
}

/// `12,000 VND`, `3,000 VND + 40 USD`, or a zero in the configured currency.
fn amounts(amounts: &[Amount], currency: &str) -> String {
    if amounts.is_empty() {
        return format!("0 {currency}");
    }
    amounts
        .iter()
        .map(|a| format!("{} {}", thousands_i64(a.amount), a.currency))
        .collect::<Vec<_>>()
        .join(" + ")
}

fn thousands_i64(n: i64) -> String {
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", thousands(n.unsigned_abs()))
}

/// Formats with a description known to fit an `OffsetDateTime`.
fn formatted(
    at: OffsetDateTime,
    format: &[time::format_description::BorrowedFormatItem<'_>],
) -> String {
    at.format(format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use time::macros::{date, datetime};

    use super::*;
    use crate::store::DayBilling;

    const NOW: OffsetDateTime = datetime!(2026-12-02 03:30:05 UTC);

    fn figures() -> StatusFigures {
        let first = datetime!(2026-12-01 11:00 +07:00);
        let hours = (0..24)
            .map(|i| HourFigures {
                start: first + Duration::hours(i),
                calls: if i == 23 { 1234 } else { i % 3 },
                resets: i64::from(i == 23),
                mismatches: if i == 23 { 2 } else { 0 },
                lockouts: i64::from(i == 5),
            })
            .collect();
        StatusFigures {
            hours,
            today: DayBilling {
                day: date!(2026 - 12 - 02),
                calls: 1240,
                billed_minutes: 2500,
                amounts: vec![Amount {
                    amount: 2_500_000,
                    currency: "VND".into(),
                }],
            },
        }
    }

    fn view(figures: Option<&StatusFigures>) -> StatusView<'_> {
        StatusView {
            node: "node-a",
            version: "0.1.0",
            calls_up: 3,
            not_ready: None,
            offset: LocalOffset::VIETNAM,
            generated_at: NOW,
            currency: "VND",
            figures,
        }
    }

    #[test]
    fn the_page_shows_the_figures_where_a_reader_finds_them() {
        let figures = figures();
        let page = render(&view(Some(&figures)));
        for expected in [
            "<meta http-equiv=\"refresh\" content=\"10\">",
            "<strong id=\"node\">node-a</strong>",
            "<span id=\"version\">0.1.0</span>",
            "2026-12-02 10:30:05 +07:00",
            "<div class=\"value\" id=\"calls-up\">3</div>",
            "data-ready=\"true\">ready</div>",
            "id=\"today\" data-day=\"2026-12-02\"",
            "id=\"today-calls\">1,240</div>",
            "id=\"today-minutes\">2,500</div>",
            "id=\"today-amount\">2,500,000 VND</div>",
            "<tr data-hour=\"2026-12-02T10:00+07:00\"><th>2026-12-02 10:00</th>\
             <td data-field=\"calls\">1,234</td><td data-field=\"resets\">1</td>\
             <td data-field=\"mismatches\">2</td><td data-field=\"lockouts\">0</td></tr>",
            "UTC+07:00",
            "<svg id=\"chart\"",
        ] {
            assert!(page.contains(expected), "{expected} missing from\n{page}");
        }
        let calls: i64 = figures.hours.iter().map(|h| h.calls).sum();
        assert!(
            page.contains(&format!(
                "<tr id=\"totals\"><th>24 hours</th><td data-field=\"calls\">{}</td>",
                thousands_i64(calls)
            )),
            "{page}"
        );
        assert_eq!(page.matches("<tr data-hour=").count(), 24);
        let newest = page.find("2026-12-02T10:00+07:00").unwrap();
        let oldest = page.find("2026-12-01T11:00+07:00").unwrap();
        assert!(newest < oldest, "newest hour first");
        assert!(!page.contains("<script"), "no script");
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "nothing from elsewhere"
        );
        assert!(!page.contains("database-unreachable"));
    }

    #[test]
    fn without_the_database_the_page_says_so_and_keeps_the_node_figures() {
        let mut unready = view(None);
        unready.not_ready = Some("the database is unreachable".into());
        let page = render(&unready);
        assert!(
            page.contains("id=\"database-unreachable\">Database unreachable"),
            "{page}"
        );
        assert!(page.contains("id=\"calls-up\">3<"), "{page}");
        assert!(
            page.contains("data-ready=\"false\">not ready: the database is unreachable<"),
            "{page}"
        );
        assert!(
            !page.contains("id=\"hours\""),
            "no figures pretend to be zeros: {page}"
        );
        assert!(!page.contains("id=\"today\""), "{page}");
    }

    #[test]
    fn nothing_billed_yet_is_a_zero_in_the_configured_currency_and_several_currencies_add_up() {
        assert_eq!(amounts(&[], "VND"), "0 VND");
        let two = [
            Amount {
                amount: 3000,
                currency: "VND".into(),
            },
            Amount {
                amount: 40,
                currency: "USD".into(),
            },
        ];
        assert_eq!(amounts(&two, "VND"), "3,000 VND + 40 USD");
        assert_eq!(thousands_i64(-1234), "-1,234");
    }

    #[test]
    fn every_value_is_escaped() {
        let mut hostile = view(None);
        hostile.node = "<script>alert(1)</script>&";
        hostile.version = "\"><img src=x>";
        hostile.not_ready = Some("<b>draining</b>".into());
        let page = render(&hostile);
        assert!(
            !page.contains("<script>") && !page.contains("<img") && !page.contains("<b>"),
            "{page}"
        );
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;"),
            "{page}"
        );
        assert!(page.contains("&quot;&gt;&lt;img src=x&gt;"), "{page}");
        assert!(page.contains("&lt;b&gt;draining&lt;/b&gt;"), "{page}");
    }
}
