//! `hotline cdr report`: the billing report as a table for a terminal, or CSV for a spreadsheet.

use std::io::{self, Write};
use std::process::ExitCode;

use time::OffsetDateTime;

use super::period::{Bound, period};
use crate::config::Config;
use crate::store::{ReportGroup, ReportLine, fold_open_calls, thousands};

/// The CSV header after the group's column (`day`, `node` or `outcome`): billing tools rely on
/// it, new columns go at the end.
pub const REPORT_CSV_COLUMNS: [&str; 4] = ["calls", "billed_minutes", "amount", "currency"];

/// What `hotline cdr report` was asked.
pub struct ReportRequest {
    pub by: ReportGroup,
    pub since: Option<Bound>,
    pub until: Option<Bound>,
    pub csv: bool,
}

pub async fn cdr_report(config: &Config, request: ReportRequest) -> anyhow::Result<ExitCode> {
    let store = super::store(config).await?;
    let offset = config.billing.utc_offset;
    let period = period(
        request.since,
        request.until,
        offset,
        OffsetDateTime::now_utc(),
    );
    let lines = store.cdr_report(request.by, period, offset).await?;
    let mut out = io::stdout().lock();
    if request.csv {
        write_csv(&mut out, request.by, &lines)?;
    } else {
        write_table(&mut out, request.by, &lines)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn write_csv(out: impl Write, by: ReportGroup, lines: &[ReportLine]) -> anyhow::Result<()> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(std::iter::once(by.column()).chain(REPORT_CSV_COLUMNS))?;
    for line in lines {
        csv.write_record([
            line.group.clone(),
            line.calls.to_string(),
            line.billed_minutes.to_string(),
            line.amount.to_string(),
            line.currency.clone(),
        ])?;
    }
    csv.flush()?;
    Ok(())
}

/// Aligned columns and a total line per currency.
fn write_table(mut out: impl Write, by: ReportGroup, lines: &[ReportLine]) -> io::Result<()> {
    let mut rows: Vec<[String; 5]> = vec![[
        by.column().to_owned(),
        "calls".into(),
        "billed minutes".into(),
        "amount".into(),
        "currency".into(),
    ]];
    let cells = |group: &str, line: &ReportLine| {
        [
            group.to_owned(),
            thousands(line.calls.unsigned_abs()),
            thousands(line.billed_minutes.unsigned_abs()),
            thousands(line.amount.unsigned_abs()),
            line.currency.clone(),
        ]
    };
    rows.extend(lines.iter().map(|line| cells(&line.group, line)));
    let totals = totals(lines);
    if totals.is_empty() {
        rows.push(["total", "0", "0", "0", ""].map(String::from));
    }
    rows.extend(totals.iter().map(|line| cells("total", line)));
    let widths: Vec<usize> = (0..5)
        .map(|column| {
            rows.iter()
                .map(|r| r[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &rows {
        writeln!(
            out,
            "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        )?;
    }
    Ok(())
}

/// One total per currency (open calls, without one, join the single currency when there is one).
fn totals(lines: &[ReportLine]) -> Vec<ReportLine> {
    let mut totals: Vec<ReportLine> = Vec::new();
    for line in lines {
        match totals.iter_mut().find(|t| t.currency == line.currency) {
            Some(total) => {
                total.calls += line.calls;
                total.billed_minutes += line.billed_minutes;
                total.amount += line.amount;
            }
            None => totals.push(ReportLine {
                group: String::new(),
                ..line.clone()
            }),
        }
    }
    // Sorted, the open calls' currency-less line comes first, as folding wants it.
    totals.sort_by(|a, b| a.currency.cmp(&b.currency));
    fold_open_calls(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(group: &str, calls: i64, minutes: i64, amount: i64, currency: &str) -> ReportLine {
        ReportLine {
            group: group.into(),
            calls,
            billed_minutes: minutes,
            amount,
            currency: currency.into(),
        }
    }

    #[test]
    fn the_table_aligns_its_columns_and_ends_with_the_total() {
        let lines = [
            line("2026-12-01", 1200, 2500, 2_500_000, "VND"),
            line("2026-12-02", 3, 4, 4000, "VND"),
        ];
        let mut out = Vec::new();
        write_table(&mut out, ReportGroup::Day, &lines).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "day         calls  billed minutes     amount  currency\n\
             2026-12-01  1,200           2,500  2,500,000  VND\n\
             2026-12-02      3               4      4,000  VND\n\
             total       1,203           2,504  2,504,000  VND\n"
        );
    }

    #[test]
    fn csv_has_the_group_column_then_the_figures_without_a_total() {
        let mut out = Vec::new();
        write_csv(
            &mut out,
            ReportGroup::Node,
            &[line("node-a", 2, 3, 3000, "VND")],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "node,calls,billed_minutes,amount,currency\nnode-a,2,3,3000,VND\n"
        );
    }

    #[test]
    fn totals_are_per_currency_and_open_calls_join_a_single_one() {
        let open_and_billed = [
            line("in_progress", 2, 0, 0, ""),
            line("reset", 3, 4, 4000, "VND"),
        ];
        assert_eq!(totals(&open_and_billed), [line("", 5, 4, 4000, "VND")]);
        let two = [line("a", 1, 1, 1000, "VND"), line("b", 1, 1, 1, "USD")];
        assert_eq!(
            totals(&two),
            [line("", 1, 1, 1, "USD"), line("", 1, 1, 1000, "VND")]
        );
        let mut out = Vec::new();
        write_table(&mut out, ReportGroup::Outcome, &[]).unwrap();
        assert!(
            String::from_utf8(out)
                .unwrap()
                .ends_with("total        0               0       0  \n")
        );
    }
}
