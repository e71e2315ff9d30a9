//! The `hotline` command: the service (`serve`) and the operator's admin commands.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use hotline::admin::{self, Bound};
use hotline::config::Config;
use hotline::store::{AuditTopBy, ReportGroup};

#[derive(Parser)]
#[command(
    name = "hotline",
    version,
    about = "IVR for hotline branch 8: reset a VssID password by phone"
)]
struct Cli {
    /// TOML configuration file; every key can also be set as HOTLINE_<SECTION>__<KEY>.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: SIP over UDP, RTP media, the branch-8 call flow.
    Serve,
    /// Manage the accounts that can reset a password.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Call detail records.
    #[command(subcommand)]
    Cdr(CdrCommand),
    /// The audit of every verification: who keyed what, and what came of it.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The database.
    #[command(subcommand)]
    Db(DbCommand),
    /// The recorded announcements.
    #[command(subcommand)]
    Prompts(PromptsCommand),
    /// Test tools for QA (the SIPp suite uses them).
    #[command(subcommand)]
    Tools(ToolsCommand),
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Add (or update) one account.
    Add {
        /// Social insurance code, 10 digits.
        #[arg(long)]
        code: String,
        /// The phone number registered on the account, in any usual form.
        #[arg(long)]
        phone: String,
        /// Personal identification number, 12 digits.
        #[arg(long)]
        personal_id: Option<String>,
        /// The account is not registered for electronic transactions (a reset will be refused).
        #[arg(long)]
        unregistered: bool,
    },
    /// Import accounts from a CSV file with the header `code,phone,personal_id,registered`.
    Import { file: PathBuf },
    /// Exit 0 when DIGITS is the account's current password, 1 when not.
    CheckPassword {
        #[arg(long)]
        code: String,
        #[arg(long, value_name = "DIGITS")]
        password: String,
    },
}

#[derive(Subcommand)]
enum CdrCommand {
    /// Write every CDR as CSV to stdout.
    Export,
    /// Calls, billed minutes and amount per day, node or outcome (a table, or CSV with --csv).
    Report {
        #[arg(long, value_enum, default_value = "day")]
        by: ReportGroup,
        /// Calls answered from this local day (2026-12-01) or this many days back (30d).
        #[arg(long, value_name = "DAY|Nd")]
        since: Option<Bound>,
        /// Calls answered up to this local day, included, or up to this many days back.
        #[arg(long, value_name = "DAY|Nd")]
        until: Option<Bound>,
        /// CSV on stdout instead of a table.
        #[arg(long)]
        csv: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Write the verifications as CSV to stdout, oldest first.
    Export {
        /// From this local day (2026-12-01) or this many days back (30d).
        #[arg(long, value_name = "DAY|Nd")]
        since: Option<Bound>,
        /// Up to this local day, included, or up to this many days back.
        #[arg(long, value_name = "DAY|Nd")]
        until: Option<Bound>,
        /// Only this caller's (any usual form of the number).
        #[arg(long, value_name = "PHONE")]
        caller: Option<String>,
        /// Only those that keyed this code or personal ID.
        #[arg(long, value_name = "CODE")]
        code: Option<String>,
    },
    /// The callers (or codes) with the most verifications in a period.
    Top {
        #[arg(long, value_name = "DAY|Nd", default_value = "30d")]
        since: Bound,
        #[arg(long, value_name = "DAY|Nd")]
        until: Option<Bound>,
        #[arg(long, value_enum, default_value = "caller")]
        by: AuditTopBy,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Create the database if needed and apply the migrations.
    Migrate,
}

#[derive(Subcommand)]
enum PromptsCommand {
    /// Check that every clip exists and is 8 kHz mono 16-bit PCM WAV.
    Check {
        /// Defaults to prompts.dir.
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ToolsCommand {
    /// Write DTMF keys as RFC 4733 telephone-events (or in-band tones) in a pcap for SIPp's
    /// play_pcap_audio.
    DtmfPcap {
        /// Keys to press: 0-9, *, #, A-D; `,` pauses.
        #[arg(long)]
        digits: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// The telephone-event payload type the SDP offer announces.
        #[arg(long, default_value_t = 101)]
        pt: u8,
        /// How long each key is held (a multiple of 20 ms).
        #[arg(long, default_value_t = 100)]
        tone_ms: u32,
        /// Silence between two keys.
        #[arg(long, default_value_t = 100)]
        gap_ms: u32,
        /// Silence for each `,`.
        #[arg(long, default_value_t = 1000)]
        pause_ms: u32,
        /// Silence before the first key.
        #[arg(long, default_value_t = 200)]
        lead_in_ms: u32,
        /// Only telephone-events, no PCMU silence between them.
        #[arg(long, conflicts_with = "inband")]
        no_silence: bool,
        /// Keys as dual tones in the PCMU audio (in-band DTMF) instead of telephone-events.
        #[arg(long)]
        inband: bool,
    },
    /// Place many branch-8 calls against a running hotline and report set-up times, outcomes,
    /// RTP loss and jitter, and the generator's own CPU time. Exit 0 when no call failed.
    Load(Box<hotline::tools::load::LoadArgs>),
    /// Write a deterministic account file (`hotline accounts import` format) of any size: row i is
    /// always the same account. For the import benchmark.
    GenAccounts {
        #[arg(long)]
        rows: u64,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Add one bad line (of rotating kinds, a repeated code among them) after every Nth row.
        #[arg(long, value_name = "N", default_value_t = 0)]
        bad_every: u64,
    },
    /// Time account lookups on the database of a `gen-accounts --rows ROWS` import; JSON on stdout.
    #[command(hide = true)]
    LookupBench {
        #[arg(long)]
        rows: u64,
        #[arg(long, default_value_t = 30_000)]
        samples: u64,
    },
}

/// glibc malloc arenas for the whole process (see `hotline::os::limit_malloc_arenas`).
const MALLOC_ARENAS: i32 = 2;

fn main() -> ExitCode {
    hotline::os::limit_malloc_arenas(MALLOC_ARENAS);
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("hotline: {e}");
            return ExitCode::from(2);
        }
    };
    admin::init_logging(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.async_threads())
        .thread_name("hotline-async")
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("hotline: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => admin::serve(config).await,
            Command::Accounts(AccountsCommand::Add {
                code,
                phone,
                personal_id,
                unregistered,
            }) => {
                admin::add_account(
                    &config,
                    &code,
                    &phone,
                    personal_id.as_deref(),
                    !unregistered,
                )
                .await
            }
            Command::Accounts(AccountsCommand::Import { file }) => {
                admin::import_accounts(&config, &file).await
            }
            Command::Accounts(AccountsCommand::CheckPassword { code, password }) => {
                admin::check_password(&config, &code, &password).await
            }
            Command::Audit(AuditCommand::Export {
                since,
                until,
                caller,
                code,
            }) => {
                let request = admin::AuditExportRequest {
                    since,
                    until,
                    caller,
                    code,
                };
                admin::audit_export(&config, request).await
            }
            Command::Audit(AuditCommand::Top {
                since,
                until,
                by,
                limit,
            }) => {
                let request = admin::AuditTopRequest {
                    since,
                    until,
                    by,
                    limit,
                };
                admin::audit_top(&config, request).await
            }
            Command::Cdr(CdrCommand::Export) => admin::export_cdrs(&config).await,
            Command::Cdr(CdrCommand::Report {
                by,
                since,
                until,
                csv,
            }) => {
                let request = admin::ReportRequest {
                    by,
                    since,
                    until,
                    csv,
                };
                admin::cdr_report(&config, request).await
            }
            Command::Db(DbCommand::Migrate) => admin::migrate(&config).await,
            Command::Tools(ToolsCommand::DtmfPcap {
                digits,
                out,
                pt,
                tone_ms,
                gap_ms,
                pause_ms,
                lead_in_ms,
                no_silence,
                inband,
            }) => {
                let options = hotline::tools::DtmfPcapOptions {
                    payload_type: pt,
                    tone_ms,
                    gap_ms,
                    pause_ms,
                    lead_in_ms,
                    silence_payload_type: (!no_silence).then_some(0),
                    inband,
                    ..Default::default()
                };
                admin::write_dtmf_pcap(&digits, &options, &out)
            }
            Command::Tools(ToolsCommand::Load(args)) => hotline::tools::load::cli(*args).await,
            Command::Tools(ToolsCommand::GenAccounts {
                rows,
                out,
                bad_every,
            }) => admin::gen_accounts(rows, bad_every, &out),
            Command::Tools(ToolsCommand::LookupBench { rows, samples }) => {
                admin::lookup_bench(&config, rows, samples).await
            }
            Command::Prompts(PromptsCommand::Check { dir }) => {
                admin::check_prompts(dir.as_deref().unwrap_or(&config.prompts.dir))
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hotline: {e:#}");
            ExitCode::FAILURE
        }
    }
}
