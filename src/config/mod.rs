//! The service's configuration: one TOML file, every key overridable from the environment as
//! `HOTLINE_<SECTION>__<KEY>` (e.g. `HOTLINE_SIP__LISTEN=0.0.0.0:5060`), every key with a default
//! so that `hotline serve` runs with no file at all.
//!
//! Start-up refuses a bad value with one line naming the key, where it came from and what is
//! wrong: an operator reading a journal should not have to guess which of forty keys broke.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::domain::{LocalOffset, NodeId};
use crate::ivr::Entry;
use crate::media::SourcePolicy;
use crate::media::dtmf::DtmfMode;
use crate::media::srtp::SrtpMode;
use crate::overload::CallLimits;
use crate::sip::{AllowedPeers, TransferTarget};

/// Everything `hotline` can be told, section by section.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerSection,
    pub node: NodeSection,
    pub sip: SipSection,
    pub http: HttpSection,
    pub media: MediaSection,
    pub database: DatabaseSection,
    pub prompts: PromptsSection,
    pub ivr: IvrSection,
    pub billing: BillingSection,
    pub security: SecuritySection,
    pub audit: AuditSection,
    pub log: LogSection,
}

/// The service as a whole: how it stops.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// On SIGTERM (or Ctrl-C) new calls get 503 while the calls in progress run to their end for
    /// at most this long; those still up then are hung up and billed (0: hang up at once).
    pub drain_seconds: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSection {
    /// This node's name in a cluster, recorded on every CDR it answers (default: the host name).
    pub id: NodeId,
}

/// The operator's HTTP listener: `/metrics`, `/healthz`, `/readyz`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    /// Where `/metrics`, `/healthz` and `/readyz` are served. Loopback by default: the metrics
    /// say how busy the line is, which is for the operator's Prometheus only.
    pub listen: SocketAddr,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SipSection {
    /// Where SIP over UDP is received.
    pub listen: SocketAddr,
    /// The address peers reach us at: written into Contact and the SDP `c=` line.
    /// Defaults to the listen address, which must then not be a wildcard.
    pub public_address: Option<IpAddr>,
    /// Addresses and CIDR blocks that may send SIP at all; anything else is dropped unanswered.
    /// Unset: loopback only, and then listening on another address is refused (an operator must
    /// say who the trunks are). A list, or one comma-separated string.
    #[serde(deserialize_with = "lists::net_list_or_unset")]
    pub allowed_peers: Option<Vec<IpNet>>,
    /// Source addresses whose P-Asserted-Identity is believed (RFC 3325). Anyone else's PAI is
    /// ignored, because anyone can write one. A list, or one comma-separated string.
    #[serde(deserialize_with = "lists::ip_list")]
    pub trusted_peers: Vec<IpAddr>,
    /// Log every SIP message in full. Off by default: messages carry callers' numbers.
    pub log_messages: bool,
    /// Ring for this long before answering (0 = answer at once).
    pub answer_delay_ms: u64,
    /// RFC 3261 timer T1; the 2xx is retransmitted from T1 and abandoned after 64·T1.
    pub t1_ms: u64,
    /// Threads of the async runtime, which runs SIP, the calls' logic and their database
    /// work (0: a quarter of the cores, at least one). The RTP, the hashing and SQLite have
    /// threads of their own, so this side is light — a tenth of a core at 1,000 calls — and
    /// one thread spares it the wake-ups of threads handing work to each other
    /// (docs/performance.md).
    pub threads: usize,
    /// Calls in progress (ringing or answered) at most; a new INVITE beyond them gets 503 with
    /// `Retry-After`. 1,000: the most full-flow calls one 2-core node serves with every caller's
    /// reset done in its usual ~20 s; 2,000 were held without a failure or a late frame, but
    /// argon2id queued and each reset took three times as long (docs/performance.md). Raise it
    /// with the cores.
    pub max_calls: u32,
    /// New calls taken per second at most (bursts of up to one second's worth); beyond, 503 with
    /// `Retry-After`. 200: two thirds of the ~290 set-ups a second one 2-core node achieved with
    /// p99 INVITE → 200 OK of 3 ms, leaving the calls in progress their share of the CPU
    /// (docs/performance.md).
    pub max_new_calls_per_second: u32,
    /// Where SIP over TCP is received (RFC 3261 §18); unset: not at all.
    pub tcp_listen: Option<SocketAddr>,
    /// Where SIP over TLS is received (`sips:`); unset: not at all. Needs `tls_certificate`
    /// and `tls_private_key`.
    pub tls_listen: Option<SocketAddr>,
    /// The TLS certificate chain, PEM, leaf first.
    pub tls_certificate: Option<PathBuf>,
    /// The certificate's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub tls_private_key: Option<PathBuf>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaSection {
    /// The UDP port range RTP is sent from and received on, one (even) port per call.
    pub rtp_port_min: u16,
    pub rtp_port_max: u16,
    /// How callers send DTMF: `auto` (RFC 4733 when telephone-event is negotiated, else tones in
    /// the audio; SIP INFO always), or only `rfc4733`, `info` or `inband`.
    pub dtmf: DtmfMode,
    /// Per-trunk overrides of `dtmf`, keyed by the SIP source address of the INVITE, e.g.
    /// `"10.0.0.5" = "inband"` for an old gateway that sends tones but offers telephone-event.
    pub dtmf_by_peer: BTreeMap<IpAddr, DtmfMode>,
    /// Symmetric RTP, for callers behind NAT: besides the address and port of the caller's SDP
    /// (always accepted), a call latches once to a source on the SDP's IP or the INVITE's source
    /// IP after 4 consecutive valid packets, and sends its RTP there. Off: strict RTP, the SDP
    /// address only. Either way RTP from anywhere else is dropped (docs/integrators.md).
    pub symmetric_rtp: bool,
    /// SRTP with SDES keys (RFC 4568 `a=crypto`): `optional` answers an offer that brings keys
    /// with SRTP and one without with plain RTP; `required` refuses a plain offer with 488;
    /// `off` answers plain RTP only and refuses an RTP/SAVP-only offer with 488.
    pub srtp: SrtpMode,
    /// Threads that send and receive every call's RTP (0: one per core).
    pub threads: usize,
    /// Their SCHED_FIFO priority (1–99), so that nothing else on the machine delays a frame;
    /// 0: never real-time. Needs root, CAP_SYS_NICE or LimitRTPRIO; when refused, the threads
    /// fall back to `thread_nice` (with a warning).
    pub realtime_priority: u8,
    /// The nice value of those threads when they are not real-time. Below the async workers'
    /// 0 so frames leave on time when the machine is busy; a negative value needs root or
    /// CAP_SYS_NICE, and without it the threads run at normal priority (with a warning).
    pub thread_nice: i32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSection {
    /// `sqlite://FILE` (created if missing) or `postgres://USER:PASS@HOST:PORT/DB`.
    pub url: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromptsSection {
    /// A directory of 8 kHz mono 16-bit PCM WAVs named as in prompts/vi/manifest.csv.
    pub dir: PathBuf,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IvrSection {
    /// `menu` (greet, ask for 8) or `code` (the PBX already chose branch 8).
    pub entry: Entry,
    /// How long the caller has to press the first key after a prompt ends.
    pub first_digit_timeout_ms: u64,
    /// How long between two keys before the entry is taken as finished.
    pub inter_digit_timeout_ms: u64,
    /// Wrong or missing menu choices before goodbye.
    pub menu_tries: u32,
    /// Wrong-length or missing codes before goodbye.
    pub code_tries: u32,
    /// A call still up after this long is ended, whatever it is doing: a safety net so a stuck
    /// call can never keep billing the caller.
    pub max_call_seconds: u64,
    /// Where "press 0 for an agent" transfers the call (REFER), e.g. `sip:agents@pbx.example`.
    /// Unset: no agent is offered and 0 is an ordinary wrong key at the menu.
    pub operator_uri: Option<TransferTarget>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BillingSection {
    /// Charged per started minute from the 200 OK to the BYE.
    pub rate_per_minute: u32,
    pub currency: String,
    /// Tell the caller the rate before the menu.
    pub announce_rate: bool,
    /// A call on another node whose last billing tick reached the database longer ago than this
    /// is taken for the call of a dead node, and its CDR is closed from its ticks. Live calls tick
    /// every 60 s, so this must be more than 60.
    pub orphan_after_seconds: u64,
    /// The operator's local time, where a billing day starts (`hotline cdr report --by day`, the
    /// status page's "today"). CDRs are stored and exported in UTC whatever it is.
    pub utc_offset: LocalOffset,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySection {
    /// Secret mixed into every password hash and kept outside the database. When unset, one is
    /// generated into a file beside the SQLite database.
    pub pepper: Option<String>,
    /// Failed matches from one calling number within the window before it is locked out.
    pub max_failures_per_caller: u32,
    /// Failed matches against one code within the window before it is locked out.
    pub max_failures_per_code: u32,
    /// Resets of one account within the window before it is locked out.
    pub max_resets_per_account: u32,
    pub window_hours: u32,
    /// Password hashes computed at once (threads of the hashing pool); each takes ~19 MiB and a
    /// core for ~30 ms.
    pub hash_concurrency: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditSection {
    /// Verifications older than this many days are purged by the service (hourly).
    pub retention_days: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// A tracing filter, e.g. `info` or `hotline=debug,rsipstack=warn`.
    pub filter: String,
    pub format: LogFormat,
    /// Show callers' numbers, codes and personal IDs in full in log lines (masked otherwise:
    /// `+8491*****78`). For debugging on a test system.
    pub personal_data: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection { drain_seconds: 300 }
    }
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

impl Default for SipSection {
    fn default() -> Self {
        SipSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            public_address: None,
            allowed_peers: None,
            trusted_peers: Vec::new(),
            log_messages: false,
            answer_delay_ms: 0,
            t1_ms: 500,
            threads: 0,
            max_calls: 1000,
            max_new_calls_per_second: 200,
            tcp_listen: None,
            tls_listen: None,
            tls_certificate: None,
            tls_private_key: None,
        }
    }
}

impl Default for MediaSection {
    fn default() -> Self {
        MediaSection {
            rtp_port_min: 10000,
            rtp_port_max: 20000,
            dtmf: DtmfMode::Auto,
            dtmf_by_peer: BTreeMap::new(),
            symmetric_rtp: true,
            srtp: SrtpMode::Optional,
            threads: 0,
            realtime_priority: 10,
            thread_nice: -10,
        }
    }
}

impl Default for DatabaseSection {
    fn default() -> Self {
        DatabaseSection {
            url: "sqlite://hotline.db".into(),
        }
    }
}

impl Default for PromptsSection {
    fn default() -> Self {
        PromptsSection {
            dir: PathBuf::from("prompts/vi"),
        }
    }
}

impl Default for NodeSection {
    fn default() -> Self {
        let fallback = || NodeId::parse("hotline").expect("a valid literal");
        let id = crate::os::host_name()
            .and_then(|name| NodeId::parse(&name).ok())
            .unwrap_or_else(fallback);
        NodeSection { id }
    }
}

impl Default for IvrSection {
    fn default() -> Self {
        IvrSection {
            entry: Entry::Menu,
            first_digit_timeout_ms: 10_000,
            inter_digit_timeout_ms: 5_000,
            menu_tries: 3,
            code_tries: 3,
            max_call_seconds: 600,
            operator_uri: None,
        }
    }
}

impl Default for BillingSection {
    fn default() -> Self {
        BillingSection {
            rate_per_minute: 1000,
            currency: "VND".into(),
            announce_rate: true,
            orphan_after_seconds: 150,
            utc_offset: LocalOffset::VIETNAM,
        }
    }
}

impl Default for SecuritySection {
    fn default() -> Self {
        SecuritySection {
            pepper: None,
            max_failures_per_caller: 5,
            max_failures_per_code: 3,
            max_resets_per_account: 5,
            window_hours: 24,
            hash_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection {
            retention_days: 365,
        }
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            filter: "info".into(),
            format: LogFormat::Text,
            personal_data: false,
        }
    }
}

/// The pepper is a secret: `Debug` (and so any config dump) shows only whether it is set.
impl fmt::Debug for SecuritySection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecuritySection")
            .field("pepper", &self.pepper.as_ref().map(|_| "<set>"))
            .field("max_failures_per_caller", &self.max_failures_per_caller)
            .field("max_failures_per_code", &self.max_failures_per_code)
            .field("max_resets_per_account", &self.max_resets_per_account)
            .field("window_hours", &self.window_hours)
            .field("hash_concurrency", &self.hash_concurrency)
            .finish()
    }
}

/// A configuration that cannot be used, described in one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {key}: {problem}")]
pub struct ConfigError {
    /// The dotted key, e.g. `media.rtp_port_min`, or the file when it cannot be read at all.
    pub key: String,
    pub problem: String,
}

impl ConfigError {
    fn new(key: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            key: key.to_owned(),
            problem: problem.into(),
        }
    }
}

/// The longest drain `server.drain_seconds` may ask for: as long as the longest call may last.
const MAX_DRAIN_SECONDS: u64 = 86_400;

/// The most `sip.max_calls` may say: far beyond any one machine (a call is ~55 KiB and an RTP
/// port), so a larger number is a typo.
const MAX_CALLS_LIMIT: u32 = 1_000_000;

/// The most `sip.max_new_calls_per_second` may say, for the same reason.
const MAX_NEW_CALLS_PER_SECOND_LIMIT: u32 = 100_000;

/// The prefix of environment overrides; `__` separates section and key.
pub const ENV_PREFIX: &str = "HOTLINE_";

impl Config {
    /// Defaults, then the file (when given), then `HOTLINE_*` variables from the process
    /// environment; validated.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with_env(file, Env::prefixed(ENV_PREFIX).split("__"))
    }

    fn load_with_env(file: Option<&Path>, env: Env) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::new(
                    &path.display().to_string(),
                    "no such file",
                ));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let config: Config = figment
            .merge(env)
            .extract()
            .map_err(describe_figment_error)?;
        config.validate()?;
        Ok(config)
    }

    /// `sip.allowed_peers`, loopback when unset.
    pub fn allowed_peers(&self) -> AllowedPeers {
        match &self.sip.allowed_peers {
            Some(blocks) => AllowedPeers::new(blocks.clone()),
            None => AllowedPeers::loopback(),
        }
    }

    /// The address written into Contact and SDP.
    pub fn public_address(&self) -> IpAddr {
        self.sip.public_address.unwrap_or(self.sip.listen.ip())
    }

    /// Whose RTP a call from `peer` (the INVITE's source address) may latch to, besides its SDP
    /// address (`media.symmetric_rtp`).
    pub fn rtp_sources(&self, peer: IpAddr) -> SourcePolicy {
        if self.media.symmetric_rtp {
            SourcePolicy::Symmetric {
                signalling_ip: peer,
            }
        } else {
            SourcePolicy::SdpOnly
        }
    }

    /// How the trunk at `peer` (the INVITE's source address) sends DTMF.
    pub fn dtmf_mode(&self, peer: IpAddr) -> DtmfMode {
        let media = &self.media;
        media
            .dtmf_by_peer
            .get(&peer)
            .or_else(|| media.dtmf_by_peer.get(&peer.to_canonical()))
            .copied()
            .unwrap_or(media.dtmf)
    }

    pub fn first_digit_timeout(&self) -> Duration {
        Duration::from_millis(self.ivr.first_digit_timeout_ms)
    }

    pub fn inter_digit_timeout(&self) -> Duration {
        Duration::from_millis(self.ivr.inter_digit_timeout_ms)
    }

    /// `sip.threads`, with 0 resolved for this machine.
    pub fn async_threads(&self) -> usize {
        match self.sip.threads {
            0 => std::thread::available_parallelism().map_or(1, |cores| (cores.get() / 4).max(1)),
            n => n,
        }
    }

    /// `sip.max_calls` and `sip.max_new_calls_per_second`.
    pub fn call_limits(&self) -> CallLimits {
        CallLimits {
            max_calls: self.sip.max_calls,
            max_new_calls_per_second: self.sip.max_new_calls_per_second,
        }
    }

    /// How long a drain lets calls in progress run (`server.drain_seconds`).
    pub fn drain_duration(&self) -> Duration {
        Duration::from_secs(self.server.drain_seconds)
    }

    pub fn max_call_duration(&self) -> Duration {
        Duration::from_secs(self.ivr.max_call_seconds)
    }

    pub fn orphan_after(&self) -> Duration {
        Duration::from_secs(self.billing.orphan_after_seconds)
    }

    pub fn lockout_window(&self) -> Duration {
        Duration::from_secs(u64::from(self.security.window_hours) * 3600)
    }
}

/// Turns figment's error into our one line: the dotted key, where the value came from
/// (file or environment variable) and serde's complaint.
fn describe_figment_error(error: figment::Error) -> ConfigError {
    let key = if error.path.is_empty() {
        "config".to_owned()
    } else {
        error.path.join(".")
    };
    let source = error
        .metadata
        .as_ref()
        .map(|m| match &m.source {
            Some(source) => format!(" (from {source})"),
            None => format!(" (from {})", m.name),
        })
        .unwrap_or_default();
    ConfigError {
        key,
        problem: format!("{}{source}", error.kind),
    }
}

mod lists;
mod validate;

#[cfg(test)]
mod tests;
