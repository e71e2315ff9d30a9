//! What each `hotline` subcommand does. Each returns the process exit status: operators and the
//! QA suite script against these (`check-password` answers with its status alone).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

mod audit;
mod period;
mod report;

pub use audit::{AuditExportRequest, AuditTopRequest, audit_export, audit_top};
pub use period::{Bound, BoundError};
pub use report::{REPORT_CSV_COLUMNS, ReportRequest, cdr_report};

use anyhow::{Context, bail};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};
use crate::domain::{InsuranceCode, Password, PersonalId, PhoneNumber};
use crate::server::{Server, open_store};
use crate::store::{NewAccount, ProgressReporter, Store, redact_credentials};

/// Logs go to stderr (stdout carries command output such as the CDR export). rsipstack logs
/// every raw SIP message at INFO, callers' numbers included, so it is held at WARN unless the
/// operator's filter names it explicitly.
pub fn init_logging(config: &Config) {
    crate::privacy::show_personal_data(config.log.personal_data);
    let mut filter = config.log.filter.clone();
    if !filter.contains("rsipstack") {
        filter.push_str(",rsipstack=warn");
    }
    // sip.log_messages asks for every message: the wire log is at debug, so let it through.
    if config.sip.log_messages {
        filter.push_str(",hotline::sip::wire=debug");
    }
    let filter =
        EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info,rsipstack=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// `hotline serve`: runs until Ctrl-C or SIGTERM, then drains (docs/integrators.md): new calls
/// get 503 while the calls in progress run to their end for `server.drain_seconds` at most; a
/// second signal hangs them up at once. Every call is billed and its CDR closed; exit 0.
pub async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let mut signals = StopSignals::new();
    let server = Server::start(config).await?;
    signals.next().await;
    server.drain(signals.next()).await;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM and Ctrl-C (SIGINT), listened to from start-up so that a second one during the
/// drain is seen too (and does not kill the process with the default action). On Unix both are
/// streams that keep a signal arriving between two waits.
struct StopSignals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignals {
    fn new() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = signal(SignalKind::terminate())
                .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                .ok();
            StopSignals { streams }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// The next SIGTERM or Ctrl-C.
    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some((term, interrupt)) = self.streams.as_mut() {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = interrupt.recv() => tracing::info!("SIGINT (Ctrl-C) received"),
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("Ctrl-C received");
    }
}

async fn store(config: &Config) -> anyhow::Result<Store> {
    Store::connect(&config.database.url)
        .await
        .with_context(|| format!("database {}", redact_credentials(&config.database.url)))
}

/// `hotline accounts add`.
pub async fn add_account(
    config: &Config,
    code: &str,
    phone: &str,
    personal_id: Option<&str>,
    registered: bool,
) -> anyhow::Result<ExitCode> {
    let account = NewAccount {
        code: InsuranceCode::parse(code).context("--code")?,
        phone: PhoneNumber::parse(phone).context("--phone")?,
        personal_id: personal_id
            .map(PersonalId::parse)
            .transpose()
            .context("--personal-id")?,
        registered,
    };
    let store = store(config).await?;
    store.add_account(&account).await?;
    println!("account {} saved (phone {})", account.code, account.phone);
    Ok(ExitCode::SUCCESS)
}

/// `hotline accounts import FILE.csv`: good rows imported, each bad one named; status 1 if any
/// row was bad.
pub async fn import_accounts(config: &Config, file: &Path) -> anyhow::Result<ExitCode> {
    let store = store(config).await?;
    let size = std::fs::metadata(file).ok().map(|m| m.len());
    let mut reporter = ProgressReporter::new(file.display().to_string(), size);
    let totals = store.import_csv_observed(file, &mut reporter).await;
    reporter.finish();
    let totals = totals.with_context(|| format!("{}", file.display()))?;
    println!(
        "{} imported, {} unchanged, {} rejected",
        totals.imported, totals.unchanged, totals.rejected
    );
    Ok(if totals.rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `hotline accounts check-password`: status 0 when the password verifies, 1 when not.
pub async fn check_password(
    config: &Config,
    code: &str,
    password: &str,
) -> anyhow::Result<ExitCode> {
    let code = InsuranceCode::parse(code).context("--code")?;
    let Some(password) = Password::from_digits(password) else {
        bail!("--password: must be exactly six digits");
    };
    let (store, hasher, _) = open_store(config).await?;
    let verified = store.check_password(&hasher, &code, &password).await?;
    println!(
        "{}",
        if verified {
            "password verifies"
        } else {
            "password does not verify"
        }
    );
    Ok(if verified {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `hotline cdr export`: CSV on stdout.
pub async fn export_cdrs(config: &Config) -> anyhow::Result<ExitCode> {
    let store = store(config).await?;
    let mut out = std::io::stdout().lock();
    store.export_cdrs(&mut out).await?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `hotline db migrate`.
pub async fn migrate(config: &Config) -> anyhow::Result<ExitCode> {
    let store = store(config).await?;
    store.migrate().await?;
    println!(
        "database {} is up to date",
        redact_credentials(&config.database.url)
    );
    Ok(ExitCode::SUCCESS)
}

/// `hotline prompts check [DIR]`.
pub fn check_prompts(dir: &Path) -> anyhow::Result<ExitCode> {
    match crate::media::prompts::check(dir) {
        Ok(report) => {
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            eprintln!("{errors}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `hotline tools dtmf-pcap`.
pub fn write_dtmf_pcap(
    digits: &str,
    options: &crate::tools::DtmfPcapOptions,
    out: &Path,
) -> anyhow::Result<ExitCode> {
    let pcap = crate::tools::dtmf_pcap(digits, options).context("--digits")?;
    std::fs::write(out, pcap).with_context(|| format!("{}", out.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// `hotline tools gen-accounts`.
pub fn gen_accounts(rows: u64, bad_every: u64, out: &Path) -> anyhow::Result<ExitCode> {
    let file = std::fs::File::create(out).with_context(|| format!("{}", out.display()))?;
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let options = crate::tools::gen_accounts::GenOptions { rows, bad_every };
    let bad = crate::tools::gen_accounts::write_accounts(&mut writer, options)
        .with_context(|| format!("{}", out.display()))?;
    println!("{rows} accounts and {bad} bad lines: {}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// `hotline tools lookup-bench`.
pub async fn lookup_bench(config: &Config, rows: u64, samples: u64) -> anyhow::Result<ExitCode> {
    let store = store(config).await?;
    let figures = crate::tools::lookup_bench::run(&store, rows, samples).await?;
    println!("{figures}");
    Ok(ExitCode::SUCCESS)
}
