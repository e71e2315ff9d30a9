//! Wiring: opens the database, loads the prompts, starts the SIP endpoint, and runs one task per
//! call until shutdown — or, on [`Server::drain`], until the calls in progress have ended.
//!
//! ```text
//!  SIP (src/sip) ──IncomingCall──▶ call::run ──▶ ivr::Flow (pure)
//!                                     │  ▲
//!                    media (src/media)│  │events: digits, playback finished
//!                    store (src/store)┘  └ timers, billing ticks, verification results
//! ```

mod audit_purger;
mod billing_clock;
mod billing_writer;
mod call;
mod db_monitor;
mod lifecycle;
mod orphan_sweeper;
mod timers;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio::time::{Duration, Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use self::billing_writer::{BillingSink, StoreSink};
pub use self::db_monitor::{DatabaseProbe, PING_EVERY, PING_TIMEOUT, PingFuture};
use self::lifecycle::Phases;
use crate::admission::AdmissionGate;
use crate::config::Config;
use crate::http::{Endpoints, HttpServer, StatusSource};
use crate::ivr::FlowConfig;
use crate::media::{MediaCounters, MediaPump, PortPool, PromptLibrary, ThreadPriority};
use crate::sip::{SipConfig, SipServer, StreamLimits, TlsListen};
use crate::store::{Hasher, Limits, Pepper, PepperSource, Store, redact_credentials};
use crate::telemetry::{self, NodeGauges};

/// What every call shares: read-only configuration and handles to pooled resources.
pub struct Services {
    pub config: Config,
    pub store: Store,
    pub hasher: Hasher,
    pub limits: Limits,
    pub ports: PortPool,
    /// Sends and receives every call's RTP, playing from the prompts loaded at start.
    pub media: MediaPump,
    /// Whether new calls are taken; a call's store errors may close it.
    pub admission: AdmissionGate,
    /// Where each call's billing writer writes.
    billing_sink: Arc<dyn BillingSink>,
    /// Every call's billing writer, which may outlive its call while the database is away.
    billing_writes: TaskTracker,
    /// Tells the billing writers the process is ending: one last try, then give up.
    last_chance: CancellationToken,
}

impl Services {
    fn flow_config(&self) -> FlowConfig {
        let config = &self.config;
        FlowConfig {
            entry: config.ivr.entry,
            announce_rate: config.billing.announce_rate,
            first_digit_timeout: config.first_digit_timeout(),
            inter_digit_timeout: config.inter_digit_timeout(),
            menu_tries: config.ivr.menu_tries,
            code_tries: config.ivr.code_tries,
            offer_operator: config.ivr.operator_uri.is_some(),
            ..FlowConfig::default()
        }
    }
}

/// Opens the database (creating and migrating it), closes the CDRs a crash left open, and
/// prepares the password hasher. Shared by `serve` and the admin commands.
pub async fn open_store(config: &Config) -> anyhow::Result<(Store, Hasher, Limits)> {
    let store = Store::connect(&config.database.url)
        .await
        .with_context(|| format!("database {}", redact_credentials(&config.database.url)))?;
    let (pepper, source) = Pepper::load(config.security.pepper.as_deref(), &config.database.url)
        .context("security.pepper")?;
    if let PepperSource::GeneratedFile(path) = &source {
        warn!(
            file = %path.display(),
            "no security.pepper configured: generated one into a file beside the database; production should set security.pepper (HOTLINE_SECURITY__PEPPER) from a secret store"
        );
    }
    let hasher = Hasher::new(pepper, config.security.hash_concurrency);
    let limits = Limits {
        caller_failures: config.security.max_failures_per_caller,
        code_failures: config.security.max_failures_per_code,
        account_resets: config.security.max_resets_per_account,
        window: config.lockout_window(),
    };
    Ok((store, hasher, limits))
}

/// `sip.tls_listen` with its PEM files (checked together at configuration load).
fn tls_listen(config: &Config) -> Option<TlsListen> {
    let sip = &config.sip;
    Some(TlsListen {
        listen: sip.tls_listen?,
        certificate: sip.tls_certificate.clone()?,
        private_key: sip.tls_private_key.clone()?,
    })
}

/// A running service.
pub struct Server {
    sip_addr: SocketAddr,
    /// Where SIP over TCP and over TLS are received, when they are.
    sip_stream_addrs: (Option<SocketAddr>, Option<SocketAddr>),
    /// `/metrics`, `/healthz`, `/readyz`: up until the server has stopped, drain included.
    http: HttpServer,
    admission: AdmissionGate,
    phases: Phases,
    /// The calls in progress.
    calls: TaskTracker,
    drain_for: Duration,
    task: JoinHandle<()>,
    /// The media pump's totals (RTP dropped by the calls' source filters), for the metrics.
    media_counters: Arc<MediaCounters>,
}

/// How a drain went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainReport {
    /// Calls in progress when the drain began.
    pub calls_at_start: usize,
    /// Calls still up at the end, hung up by us (BYE, billed, outcome `interrupted`).
    pub hung_up: usize,
    pub ended_by: DrainEnd,
}

/// What ended a drain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrainEnd {
    /// The last call in progress ended by itself.
    CallsEnded,
    /// `server.drain_seconds` ran out.
    Deadline,
    /// We were told to hurry (a second SIGTERM or Ctrl-C).
    Hurried,
}

impl Server {
    /// Starts everything; returns once SIP is listening.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        Server::start_with_probe(config, None).await
    }

    /// As [`Server::start`], with the database's health asked of `probe` instead of the store
    /// itself: for tests that need a database outage, which a local SQLite file cannot have.
    pub async fn start_with_database_probe(
        config: Config,
        probe: Arc<dyn DatabaseProbe>,
    ) -> anyhow::Result<Server> {
        Server::start_with_probe(config, Some(probe)).await
    }

    async fn start_with_probe(
        config: Config,
        probe: Option<Arc<dyn DatabaseProbe>>,
    ) -> anyhow::Result<Server> {
        let prompts = PromptLibrary::load(&config.prompts.dir)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("prompts.dir {}", config.prompts.dir.display()))?;
        // Before anything records: the recorder every metric goes to.
        let metrics = telemetry::recorder();
        let (store, hasher, limits) = open_store(&config).await?;
        let closed = store
            .close_interrupted(
                &config.node.id,
                config.billing.rate_per_minute,
                &config.billing.currency,
            )
            .await
            .context("closing CDRs left open by a crash")?;
        if closed > 0 {
            warn!(
                closed,
                "closed CDRs left open by an earlier crash, billed from their ticks"
            );
        }
        let admission = AdmissionGate::with_limits(config.call_limits());
        let sip_config = SipConfig {
            listen: config.sip.listen,
            public_address: config.public_address(),
            allowed_peers: config.allowed_peers(),
            trusted_peers: config.sip.trusted_peers.clone(),
            log_messages: config.sip.log_messages,
            t1: std::time::Duration::from_millis(config.sip.t1_ms),
            // Room for a whole second's burst of new calls that the rate limit lets through,
            // should the application fall behind taking them.
            pending_calls: (config.sip.max_new_calls_per_second as usize).max(64),
            tcp_listen: config.sip.tcp_listen,
            tls: tls_listen(&config),
            streams: StreamLimits {
                // A call's connection is quiet from its ACK to its BYE; closing it would end it.
                idle_timeout: StreamLimits::default()
                    .idle_timeout
                    .max(config.max_call_duration() + Duration::from_secs(60)),
                ..StreamLimits::default()
            },
            srtp: config.media.srtp,
            ..SipConfig::new(config.sip.listen)
        };
        if sip_config.allowed_peers.is_open_to_anyone() {
            warn!(
                "sip.allowed_peers lets in any source: anyone who reaches this port can claim any caller ID; list your trunks instead"
            );
        }
        let (sip, incoming) = SipServer::start_with_admission(sip_config, admission.clone())
            .await
            .with_context(|| format!("sip.listen {}", config.sip.listen))?;
        let sip_addr = sip.local_addr();
        let sip_stream_addrs = (sip.tcp_addr(), sip.tls_addr());
        let ports = PortPool::new(config.media.rtp_port_min, config.media.rtp_port_max);
        let media = MediaPump::start(
            config.media.threads,
            ThreadPriority {
                realtime: config.media.realtime_priority,
                nice: config.media.thread_nice,
            },
            Arc::new(prompts),
        )
        .context("starting the media threads")?;
        let billing_sink = Arc::new(StoreSink {
            store: store.clone(),
            rate_per_minute: config.billing.rate_per_minute,
            currency: config.billing.currency.clone(),
        });
        let probe = probe.unwrap_or_else(|| Arc::new(store.clone()));
        let drain_for = config.drain_duration();
        let media_counters = media.counters();
        let http = HttpServer::start(
            config.http.listen,
            Endpoints {
                admission: admission.clone(),
                gauges: NodeGauges {
                    admission: admission.clone(),
                    ports: ports.clone(),
                    media: Arc::clone(&media_counters),
                },
                metrics,
                status: StatusSource {
                    store: store.clone(),
                    node: config.node.id.clone(),
                    offset: config.billing.utc_offset,
                    currency: config.billing.currency.clone(),
                },
            },
        )
        .await?;
        info!(http_addr = %http.local_addr(), "serving / (status page), /metrics, /healthz and /readyz");
        let services = Arc::new(Services {
            config,
            store,
            hasher,
            limits,
            ports,
            media,
            admission: admission.clone(),
            billing_sink,
            billing_writes: TaskTracker::new(),
            last_chance: CancellationToken::new(),
        });
        info!(%sip_addr, "hotline is listening for SIP over UDP");

        let phases = Phases::default();
        let calls = TaskTracker::new();
        let monitor_stop = CancellationToken::new();
        tokio::spawn(db_monitor::watch_database(
            probe,
            admission.clone(),
            monitor_stop.clone(),
        ));
        let sweeper = orphan_sweeper::Sweeper {
            store: services.store.clone(),
            me: services.config.node.id.clone(),
            orphan_after: services.config.orphan_after(),
            rate_per_minute: services.config.billing.rate_per_minute,
            currency: services.config.billing.currency.clone(),
            every: orphan_sweeper::SWEEP_EVERY,
            settle: orphan_sweeper::SETTLE,
        };
        tokio::spawn(sweeper.run(monitor_stop.clone()));
        let purger = audit_purger::AuditPurger {
            store: services.store.clone(),
            retention: time::Duration::days(i64::from(services.config.audit.retention_days)),
            every: audit_purger::PURGE_EVERY,
        };
        tokio::spawn(purger.run(monitor_stop.clone()));
        let run = lifecycle::run(services, incoming, sip, calls.clone(), phases.clone());
        let task = tokio::spawn(async move {
            run.await;
            monitor_stop.cancel();
        });
        Ok(Server {
            sip_addr,
            sip_stream_addrs,
            http,
            admission,
            phases,
            calls,
            drain_for,
            task,
            media_counters,
        })
    }

    /// Where SIP is received (with the real port when `sip.listen` asked for port 0).
    pub fn sip_addr(&self) -> SocketAddr {
        self.sip_addr
    }

    /// Where SIP over TCP is received, when `sip.tcp_listen` is set (the real port for port 0).
    pub fn sip_tcp_addr(&self) -> Option<SocketAddr> {
        self.sip_stream_addrs.0
    }

    /// Where SIP over TLS is received, when `sip.tls_listen` is set (the real port for port 0).
    pub fn sip_tls_addr(&self) -> Option<SocketAddr> {
        self.sip_stream_addrs.1
    }

    /// Where `/metrics`, `/healthz` and `/readyz` are served (the real port when `http.listen`
    /// asked for port 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.http.local_addr()
    }

    /// The node's admission state: whether it takes new calls, and why not (for `/readyz`).
    pub fn admission(&self) -> AdmissionGate {
        self.admission.clone()
    }

    /// The media pump's totals since start-up (strict and symmetric RTP: packets dropped).
    pub fn media_counters(&self) -> Arc<MediaCounters> {
        Arc::clone(&self.media_counters)
    }

    /// Calls in progress (answered or ringing).
    pub fn calls_in_progress(&self) -> usize {
        self.calls.len()
    }

    /// The graceful stop: new INVITEs and OPTIONS get 503 with `Retry-After`; the calls in
    /// progress run to their end, for `server.drain_seconds` at most, or until `hurry` resolves
    /// (a second signal); then those left are hung up (BYE, billed, CDR closed) and everything
    /// stops. Returns once the store is closed.
    pub async fn drain(self, hurry: impl Future<Output = ()>) -> DrainReport {
        let Server {
            admission,
            phases,
            calls,
            drain_for,
            mut task,
            http,
            ..
        } = self;
        let deadline = Instant::now() + drain_for;
        admission.start_draining(deadline);
        phases.drain.cancel();
        let calls_at_start = calls.len();
        info!(
            calls = calls_at_start,
            drain_seconds = drain_for.as_secs(),
            "draining: new calls and OPTIONS get 503; calls in progress run to their end"
        );
        let ended_by = tokio::select! {
            _ = &mut task => DrainEnd::CallsEnded,
            _ = sleep_until(deadline) => DrainEnd::Deadline,
            _ = hurry => DrainEnd::Hurried,
        };
        let hung_up = match ended_by {
            DrainEnd::CallsEnded => 0,
            DrainEnd::Deadline | DrainEnd::Hurried => {
                let left = calls.len();
                warn!(calls = left, reason = ?ended_by, "drain cut short: hanging up the calls still in progress");
                phases.hang_up.cancel();
                let _ = task.await;
                left
            }
        };
        // Until here /readyz said "draining"; now the process is about to end.
        http.stop().await;
        info!(
            calls_at_start,
            hung_up,
            ended_by = ?ended_by,
            "drain finished: every call ended and billed"
        );
        DrainReport {
            calls_at_start,
            hung_up,
            ended_by,
        }
    }

    /// Hangs up every call, closes their CDRs, and stops.
    pub async fn shutdown(self) {
        self.admission.start_draining(Instant::now());
        self.phases.hang_up.cancel();
        let _ = self.task.await;
        self.http.stop().await;
    }
}
