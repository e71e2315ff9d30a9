//! `hotline tools load`: a load generator that places many branch-8 calls against a running
//! hotline and reports set-up times, what the callers heard, and how evenly the service's RTP
//! arrived. It is built to cost little, so that on the service's own machine the service is
//! the bottleneck, not the generator:
//!
//! ```text
//!            one UDP socket, all SIP              one UDP socket, all RTP
//!  control thread ◀──────────────────▶ service ◀──────────────────▶ sender thread (20 ms pacing)
//!   Call state machines by Call-ID                                 receiver thread (demux by source)
//! ```
//!
//! No task or timer per call: the control loop polls every call every 10 ms, the sender sends
//! every call's frame in one wake-up per 20 ms, the receiver sleeps in `recv`.
//!
//! [`run`] is the library entry point (the integration tests call it); [`LoadArgs`] is the CLI.

mod accounts;
mod call;
mod control;
mod hear;
mod keys;
mod rtp;
mod sdp;
mod sip;
mod stats;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use accounts::Caller;
pub use call::FlowKind;
pub use stats::{Report, RtpReport, Spread};

use crate::ivr::Entry;
use crate::media::PromptLibrary;

/// What to run.
#[derive(Clone)]
pub struct Options {
    /// The service's SIP address.
    pub target: SocketAddr,
    /// Call k is made by `callers[k % len]`.
    pub callers: Vec<Caller>,
    pub calls: u64,
    pub concurrent: usize,
    /// New calls per second.
    pub rate: f64,
    /// Stop starting calls after this long.
    pub duration: Option<Duration>,
    pub flow: FlowKind,
    /// Where the service's flow starts: `menu` means we press 8 first.
    pub entry: Entry,
    /// Answer flow: how long to hold before our BYE.
    pub hold: Duration,
    pub local_ip: IpAddr,
    /// The service's clips, to recognise what the caller heard.
    pub library: Arc<PromptLibrary>,
    /// One line per second on stderr.
    pub progress: bool,
}

impl Options {
    /// Defaults as on the command line, for `callers` calling `target` with `library`.
    pub fn new(target: SocketAddr, callers: Vec<Caller>, library: Arc<PromptLibrary>) -> Options {
        Options {
            target,
            callers,
            calls: 100,
            concurrent: 10,
            rate: 10.0,
            duration: None,
            flow: FlowKind::Reset,
            entry: Entry::Menu,
            hold: Duration::ZERO,
            local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            library,
            progress: false,
        }
    }

    fn validate(&self) -> Result<(), LoadError> {
        let bad = |option, message: &str| {
            Err(LoadError::Option {
                option,
                message: message.to_owned(),
            })
        };
        if self.callers.is_empty() {
            return bad("--accounts", "no accounts");
        }
        if self.calls == 0 {
            return bad("--calls", "must be at least 1");
        }
        if self.concurrent == 0 {
            return bad("--concurrent", "must be at least 1");
        }
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return bad("--rate", "must be a positive number of calls per second");
        }
        if self.duration.is_some_and(|d| d.is_zero()) {
            return bad("--duration", "must be longer than zero");
        }
        Ok(())
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A bad argument: the CLI exits 2.
    #[error("{option}: {message}")]
    Option {
        option: &'static str,
        message: String,
    },
    #[error("{0}")]
    Io(String),
}

/// The command line of `hotline tools load`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    /// The service's SIP address, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub target: String,
    /// Callers: the `hotline accounts import` CSV (code,phone,personal_id,registered).
    #[arg(long, value_name = "FILE.csv")]
    pub accounts: PathBuf,
    /// Total calls to place.
    #[arg(long, default_value_t = 100)]
    pub calls: u64,
    /// At most this many calls up at once.
    #[arg(long, default_value_t = 10)]
    pub concurrent: usize,
    /// New calls per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Stop starting calls after this many seconds (calls in progress finish).
    #[arg(long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// reset: the whole branch-8 flow; answer: INVITE, 200, ACK, BYE after --hold-ms.
    #[arg(long, default_value = "reset", value_parser = ["reset", "answer"])]
    pub flow: String,
    /// The service's ivr.entry: menu (press 8 first) or code.
    #[arg(long, default_value = "menu")]
    pub entry: Entry,
    /// Answer flow: how long to hold before our BYE.
    #[arg(long, default_value_t = 0)]
    pub hold_ms: u64,
    /// The address our SIP and RTP sockets bind and announce.
    #[arg(long, default_value = "127.0.0.1")]
    pub local_ip: IpAddr,
    /// The service's prompts, to recognise what the callers heard.
    #[arg(long, default_value = "prompts/vi")]
    pub prompts: PathBuf,
    /// Also write the report as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// One line per second on stderr: up, started, completed, failed.
    #[arg(long)]
    pub progress: bool,
}

impl LoadArgs {
    /// Reads the files the arguments name and checks every value; errors name the option.
    pub fn into_options(self) -> Result<Options, LoadError> {
        let option = |option, message: String| LoadError::Option { option, message };
        let target = self
            .target
            .to_socket_addrs()
            .map_err(|e| option("--target", format!("{}: {e}", self.target)))?
            .find(|a| a.is_ipv4() == self.local_ip.is_ipv4())
            .ok_or_else(|| option("--target", format!("{}: no address", self.target)))?;
        let callers = accounts::read(&self.accounts).map_err(|e| option("--accounts", e))?;
        let library = PromptLibrary::load(&self.prompts)
            .map_err(|e| option("--prompts", format!("{}: {e}", self.prompts.display())))?;
        let duration = match self.duration {
            Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
            Some(s) => {
                return Err(option(
                    "--duration",
                    format!("{s} is not a positive number"),
                ));
            }
            None => None,
        };
        let options = Options {
            calls: self.calls,
            concurrent: self.concurrent,
            rate: self.rate,
            duration,
            flow: if self.flow == "answer" {
                FlowKind::Answer
            } else {
                FlowKind::Reset
            },
            entry: self.entry,
            hold: Duration::from_millis(self.hold_ms),
            local_ip: self.local_ip,
            progress: self.progress,
            ..Options::new(target, callers, Arc::new(library))
        };
        options.validate()?;
        Ok(options)
    }
}

/// Runs the load and returns its report. The work happens on three plain threads (SIP control,
/// RTP sender, RTP receiver); this future only waits for them, so any runtime can await it.
pub async fn run(options: Options) -> Result<Report, LoadError> {
    options.validate()?;
    let (done, report) = tokio::sync::oneshot::channel();
    let runner = control::Runner::bind(options)?;
    std::thread::Builder::new()
        .name("load-control".into())
        .spawn(move || {
            let _ = done.send(runner.run());
        })
        .map_err(|e| LoadError::Io(format!("cannot start the control thread: {e}")))?;
    report
        .await
        .map_err(|_| LoadError::Io("the control thread died".into()))?
}

/// `hotline tools load`: runs, prints the summary on stdout, writes the JSON if asked. Exit 0
/// when no call failed, 1 when one did, 2 on a bad argument (the message names it).
pub async fn cli(args: LoadArgs) -> anyhow::Result<std::process::ExitCode> {
    use std::process::ExitCode;
    let json = args.json.clone();
    let result = match args.into_options() {
        Ok(options) => run(options).await,
        Err(e) => Err(e),
    };
    let report = match result {
        Ok(report) => report,
        Err(e @ LoadError::Option { .. }) => {
            eprintln!("hotline tools load: {e}");
            return Ok(ExitCode::from(2));
        }
        Err(e) => anyhow::bail!("tools load: {e}"),
    };
    println!("{report}");
    if let Some(path) = json {
        std::fs::write(&path, report.to_json() + "\n")
            .map_err(|e| anyhow::anyhow!("--json {}: {e}", path.display()))?;
    }
    Ok(if report.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
