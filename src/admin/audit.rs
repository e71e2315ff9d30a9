//! `hotline audit export` and `hotline audit top`: the verifications an operator answers a
//! complaint from, and the callers (or codes) that asked most.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::period::{Bound, period};
use crate::config::Config;
use crate::domain::{AccountKey, PhoneNumber};
use crate::store::{AuditFilter, AuditTopBy, AuditTopLine, thousands};

/// What `hotline audit export` was asked.
pub struct AuditExportRequest {
    pub since: Option<Bound>,
    pub until: Option<Bound>,
    pub caller: Option<String>,
    pub code: Option<String>,
}

pub async fn audit_export(
    config: &Config,
    request: AuditExportRequest,
) -> anyhow::Result<ExitCode> {
    let filter = AuditFilter {
        period: period(
            request.since,
            request.until,
            config.billing.utc_offset,
            OffsetDateTime::now_utc(),
        ),
        caller: request
            .caller
            .as_deref()
            .map(PhoneNumber::parse)
            .transpose()
            .context("--caller")?,
        keyed: request
            .code
            .as_deref()
            .map(AccountKey::parse)
            .transpose()
            .context("--code")?,
    };
    let store = super::store(config).await?;
    let mut out = io::stdout().lock();
    store.export_verifications(&filter, &mut out).await?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// What `hotline audit top` was asked.
pub struct AuditTopRequest {
    pub since: Bound,
    pub until: Option<Bound>,
    pub by: AuditTopBy,
    pub limit: u32,
}

pub async fn audit_top(config: &Config, request: AuditTopRequest) -> anyhow::Result<ExitCode> {
    let period = period(
        Some(request.since),
        request.until,
        config.billing.utc_offset,
        OffsetDateTime::now_utc(),
    );
    let store = super::store(config).await?;
    let lines = store.audit_top(request.by, period, request.limit).await?;
    let mut out = io::stdout().lock();
    write_top(&mut out, request.by, &lines)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Aligned columns, most verifications first.
fn write_top(mut out: impl Write, by: AuditTopBy, lines: &[AuditTopLine]) -> anyhow::Result<()> {
    let who = match by {
        AuditTopBy::Caller => "caller",
        AuditTopBy::Code => "code",
    };
    let mut rows: Vec<[String; 8]> = vec![
        [
            who,
            "verifications",
            "resets",
            "mismatches",
            "locked out",
            "system busy",
            "first",
            "last",
        ]
        .map(String::from),
    ];
    for line in lines {
        rows.push([
            line.who.clone(),
            thousands(line.verifications.unsigned_abs()),
            thousands(line.resets.unsigned_abs()),
            thousands(line.mismatches.unsigned_abs()),
            thousands(line.locked_out.unsigned_abs()),
            thousands(line.system_busy.unsigned_abs()),
            minute(line.first_at)?,
            minute(line.last_at)?,
        ]);
    }
    let widths: Vec<usize> = (0..8)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let mut text = format!("{:<w$}", row[0], w = widths[0]);
        for (cell, width) in row[1..6].iter().zip(&widths[1..6]) {
            text.push_str(&format!("  {cell:>width$}"));
        }
        text.push_str(&format!("  {:<w$}  {}", row[6], row[7], w = widths[6]));
        writeln!(out, "{}", text.trim_end())?;
    }
    Ok(())
}

/// `2026-12-02T08:15Z`: enough to place a call in time, short enough for a table.
fn minute(at: OffsetDateTime) -> anyhow::Result<String> {
    let text = at.to_offset(time::UtcOffset::UTC).format(&Rfc3339)?;
    Ok(format!("{}Z", &text[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_top_table_names_who_and_counts_each_result() {
        let line = AuditTopLine {
            who: "+84912345678".into(),
            verifications: 47,
            resets: 45,
            mismatches: 2,
            locked_out: 0,
            system_busy: 0,
            first_at: datetime!(2026-11-02 01:02:03 UTC),
            last_at: datetime!(2026-12-01 23:59:00 UTC),
        };
        let mut out = Vec::new();
        write_top(&mut out, AuditTopBy::Caller, &[line]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "caller        verifications  resets  mismatches  locked out  system busy  first              last\n\
             +84912345678             47      45           2           0            0  2026-11-02T01:02Z  2026-12-01T23:59Z\n"
        );
    }
}
