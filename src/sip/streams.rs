//! SIP over TCP and TLS (RFC 3261 §18): our own accept loops in front of rsipstack's stream
//! connections.
//!
//! rsipstack's listeners bind inside `serve()` (a failure there is only logged, and a port 0
//! cannot be learnt), and wait for a TLS handshake for ever, one task per stranger. Here the
//! socket is bound at start-up; each connection passes `sip.allowed_peers` (closed unanswered
//! otherwise, logged like a UDP drop) and a cap on open connections, and a TLS handshake has a
//! deadline. The connection is then handed to rsipstack, which frames messages by
//! Content-Length, answers on the connection a request came on (§18.2.2) and, when the
//! connection closes or idles out, retires it and cancels its token — the signal a call carried
//! on it watches (src/sip/call.rs).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rsipstack::sip::Transport;
use rsipstack::transaction::endpoint::EndpointInnerRef;
use rsipstack::transport::tcp::TcpConnection;
use rsipstack::transport::tls::TlsConnection;
use rsipstack::transport::{SipAddr, SipConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::config::{SipConfig, StreamLimits};
use super::peers::PeerGate;
use super::tls::{self, TlsIdentityError};

/// Why a TCP or TLS listener cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen for SIP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsIdentityError),
}

/// The TCP and TLS listeners asked for, bound (so a port in use stops start-up).
pub struct Listeners {
    pub tcp: Option<StreamListener>,
    pub tls: Option<StreamListener>,
}

pub async fn bind_listeners(cfg: &SipConfig) -> Result<Listeners, ListenError> {
    let bind = |addr: SocketAddr, security: Security| async move {
        StreamListener::bind(addr, cfg.public_address, security)
            .await
            .map_err(|source| ListenError::Bind { addr, source })
    };
    let tcp = match cfg.tcp_listen {
        Some(addr) => Some(bind(addr, Security::Plain).await?),
        None => None,
    };
    let tls = match &cfg.tls {
        Some(settings) => {
            let config = tls::server_config(&settings.certificate, &settings.private_key)?;
            let acceptor = TlsAcceptor::from(config);
            Some(bind(settings.listen, Security::Tls(acceptor)).await?)
        }
        None => None,
    };
    Ok(Listeners { tcp, tls })
}

/// How a stream listener secures its connections.
#[derive(Clone)]
pub enum Security {
    Plain,
    Tls(TlsAcceptor),
}

impl Security {
    fn transport(&self) -> Transport {
        match self {
            Security::Plain => Transport::Tcp,
            Security::Tls(_) => Transport::Tls,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Security::Plain => "tcp",
            Security::Tls(_) => "tls",
        }
    }
}

/// A bound TCP or TLS listener, not yet accepting.
pub struct StreamListener {
    listener: TcpListener,
    security: Security,
    /// The bound address (the port is known even when 0 was asked for).
    local: SocketAddr,
    /// Our address as written into Via and Contact: the public address, the bound port.
    public: SocketAddr,
}

impl StreamListener {
    pub async fn bind(
        listen: SocketAddr,
        public: std::net::IpAddr,
        security: Security,
    ) -> std::io::Result<StreamListener> {
        let listener = TcpListener::bind(listen).await?;
        let local = listener.local_addr()?;
        Ok(StreamListener {
            listener,
            security,
            local,
            public: SocketAddr::new(public, local.port()),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn public_addr(&self) -> SocketAddr {
        self.public
    }

    /// Accepts connections until `stop` fires, handing each admitted one to `endpoint`.
    pub fn serve(self, door: Arc<Door>, endpoint: EndpointInnerRef, stop: CancellationToken) {
        let advertised = SipAddr {
            r#type: Some(self.security.transport()),
            addr: self.public.into(),
        };
        info!(listen = %self.local, public = %self.public, transport = self.security.name(), "SIP listening");
        tokio::spawn(async move {
            let mut cap_warned: Option<Instant> = None;
            loop {
                let accepted = tokio::select! {
                    _ = stop.cancelled() => break,
                    accepted = self.listener.accept() => accepted,
                };
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, mostly: let some close before trying again.
                        warn!(error = %e, "could not accept a SIP connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Some(permit) = door.admit(peer, self.security.name(), &mut cap_warned) else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let connection = Connection {
                    stream,
                    peer,
                    local: advertised.clone(),
                    permit,
                    endpoint: endpoint.clone(),
                };
                match &self.security {
                    Security::Plain => connection.start_tcp(),
                    Security::Tls(acceptor) => {
                        let acceptor = acceptor.clone();
                        let deadline = door.limits.handshake_timeout;
                        tokio::spawn(connection.start_tls(acceptor, deadline));
                    }
                }
            }
            debug!("SIP stream listener stopped");
        });
    }
}

/// What every stream connection must pass, shared by the TCP and TLS listeners.
pub struct Door {
    gate: Arc<PeerGate>,
    open: Arc<Semaphore>,
    limits: StreamLimits,
}

/// The cap is logged at most this often, however many connections it closes.
const CAP_LOG_EVERY: Duration = Duration::from_secs(60);

impl Door {
    pub fn new(gate: Arc<PeerGate>, limits: StreamLimits) -> Door {
        Door {
            gate,
            open: Arc::new(Semaphore::new(limits.max_connections)),
            limits,
        }
    }

    /// A place among the open connections for `peer`, or `None`: the caller closes it unanswered.
    fn admit(
        &self,
        peer: SocketAddr,
        transport: &'static str,
        warned: &mut Option<Instant>,
    ) -> Option<OwnedSemaphorePermit> {
        if !self.gate.admits(peer, transport) {
            return None;
        }
        let permit = self.open.clone().try_acquire_owned().ok();
        if permit.is_none() && warned.is_none_or(|at| at.elapsed() >= CAP_LOG_EVERY) {
            *warned = Some(Instant::now());
            warn!(
                peer = %peer.ip(),
                max = self.limits.max_connections,
                "closed a SIP connection: too many open (logged once a minute)"
            );
        }
        permit
    }
}

/// An accepted, admitted connection on its way to rsipstack.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    local: SipAddr,
    permit: OwnedSemaphorePermit,
    endpoint: EndpointInnerRef,
}

impl Connection {
    fn start_tcp(self) {
        let closed = CancellationToken::new();
        match TcpConnection::from_stream(self.stream, self.local, Some(closed.clone())) {
            Ok(tcp) => hand_over(&self.endpoint, SipConnection::Tcp(tcp), closed, self.permit),
            Err(e) => debug!(peer = %self.peer, error = %e, "TCP connection lost at accept"),
        }
    }

    async fn start_tls(self, acceptor: TlsAcceptor, deadline: Duration) {
        let peer = self.peer;
        let stream = match tokio::time::timeout(deadline, acceptor.accept(self.stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return info!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => return info!(%peer, ?deadline, "TLS handshake not finished in time"),
        };
        let remote = SipAddr {
            r#type: Some(Transport::Tls),
            addr: peer.into(),
        };
        let closed = CancellationToken::new();
        match TlsConnection::from_server_stream(stream, self.local, remote, Some(closed.clone()))
            .await
        {
            Ok(tls) => hand_over(&self.endpoint, SipConnection::Tls(tls), closed, self.permit),
            Err(e) => debug!(%peer, error = %e, "TLS connection lost at accept"),
        }
    }
}

/// rsipstack serves the connection from now on; its place is given back once it is retired.
fn hand_over(
    endpoint: &EndpointInnerRef,
    connection: SipConnection,
    closed: CancellationToken,
    permit: OwnedSemaphorePermit,
) {
    debug!(connection = %connection.get_addr(), remote = ?connection.get_remote_addr().map(ToString::to_string), "SIP connection open");
    endpoint.transport_layer.add_connection(connection);
    tokio::spawn(async move {
        closed.cancelled().await;
        drop(permit);
    });
}
