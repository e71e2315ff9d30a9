//! Wiring: opens the database, loads the prompts, starts the SIP endpoint, and runs one task per
//! call until shutdown.
//!
//! ```text
//!  SIP (src/sip) ──IncomingCall──▶ call::run ──▶ ivr::Flow (pure)
//!                                     │  ▲
//!                    media (src/media)│  │events: digits, playback finished
//!                    store (src/store)┘  └ timers, billing ticks, verification results
//! ```

mod billing_clock;
mod billing_writer;
mod call;
mod db_monitor;
mod timers;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::Config;
use crate::ivr::FlowConfig;
use crate::media::{MediaPump, PortPool, PromptLibrary, ThreadPriority};
use crate::sip::{SipConfig, SipServer};
use crate::store::{Hasher, Limits, Pepper, PepperSource, Store};

/// What every call shares: read-only configuration and handles to pooled resources.
pub struct Services {
    pub config: Config,
    pub store: Store,
    pub hasher: Hasher,
    pub limits: Limits,
    pub ports: PortPool,
    /// Sends and receives every call's RTP, playing from the prompts loaded at start.
    pub media: MediaPump,
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
        }
    }
}

/// Opens the database (creating and migrating it), closes the CDRs a crash left open, and
/// prepares the password hasher. Shared by `serve` and the admin commands.
pub async fn open_store(config: &Config) -> anyhow::Result<(Store, Hasher, Limits)> {
    let store = Store::connect(&config.database.url)
        .await
        .with_context(|| format!("database {}", config.database.url))?;
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

/// A running service.
pub struct Server {
    sip_addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    /// Starts everything; returns once SIP is listening.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let prompts = PromptLibrary::load(&config.prompts.dir)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("prompts.dir {}", config.prompts.dir.display()))?;
        let (store, hasher, limits) = open_store(&config).await?;
        let closed = store
            .close_interrupted(config.billing.rate_per_minute, &config.billing.currency)
            .await
            .context("closing CDRs left open by a crash")?;
        if closed > 0 {
            warn!(
                closed,
                "closed CDRs left open by an earlier crash, billed from their ticks"
            );
        }
        let sip_config = SipConfig {
            listen: config.sip.listen,
            public_address: config.public_address(),
            trusted_peers: config.sip.trusted_peers.clone(),
            log_messages: config.sip.log_messages,
            t1: std::time::Duration::from_millis(config.sip.t1_ms),
            ..SipConfig::new(config.sip.listen)
        };
        let (sip, mut incoming) = SipServer::start(sip_config)
            .await
            .with_context(|| format!("sip.listen {}", config.sip.listen))?;
        let sip_addr = sip.local_addr();
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
        let services = Arc::new(Services {
            config,
            store,
            hasher,
            limits,
            ports,
            media,
        });
        info!(%sip_addr, "hotline is listening for SIP over UDP");

        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let task = tokio::spawn(async move {
            let calls = TaskTracker::new();
            loop {
                tokio::select! {
                    call = incoming.recv() => match call {
                        Some(call) => {
                            calls.spawn(call::run(services.clone(), call, stop.clone()));
                        }
                        None => break,
                    },
                    _ = stop.cancelled() => break,
                }
            }
            // Calls in progress are hung up (their CDRs closed `interrupted`) before SIP stops.
            calls.close();
            calls.wait().await;
            sip.shutdown();
            services.store.close().await;
        });
        Ok(Server {
            sip_addr,
            shutdown,
            task,
        })
    }

    /// Where SIP is received (with the real port when `sip.listen` asked for port 0).
    pub fn sip_addr(&self) -> SocketAddr {
        self.sip_addr
    }

    /// Hangs up every call, closes their CDRs, and stops.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}
