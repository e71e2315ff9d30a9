//! The SIP endpoint: a UDP listener and optional TCP and TLS ones (src/sip/streams.rs),
//! rsipstack's transaction and dialog layers, and the dispatch loop that turns each new server
//! transaction into a call, an in-dialog request or an answer of our own.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rsipstack::EndpointBuilder;
use rsipstack::dialog::dialog::Dialog;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Method, Request};
use rsipstack::transaction::endpoint::EndpointOption;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::TransportLayer;
use rsipstack::transport::udp::UdpConnection;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::call::{self, CallInfo, IncomingCall};
use super::config::{SipConfig, SipConfigError};
use super::identity::{self, CallerIdentity};
use super::peers::PeerGate;
use super::responses::{self, InviteRefuser, warning};
use super::sdp::{self, NegotiatedMedia, SdpError};
use super::streams::{Door, ListenError, StreamListener, bind_listeners};
use super::transports::{
    self, Advertised, StreamInspector, StreamPorts, connection_closed, source_of, transport_of,
};
use super::wire::ScreenedSocket;
use crate::admission::{AdmissionGate, Refusal, RefusalReason};
use crate::domain::CallId;
use crate::media::srtp::SrtpMode;
use crate::overload::CallSlot;

#[derive(Debug, thiserror::Error)]
pub enum SipError {
    #[error(transparent)]
    Config(#[from] SipConfigError),
    #[error("cannot listen for SIP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error("the SIP stack failed to start: {0}")]
    Stack(String),
}

/// A running SIP user agent server. Dropping it does not stop it; call [`SipServer::shutdown`].
pub struct SipServer {
    local_addr: SocketAddr,
    tcp_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    cancel: CancellationToken,
    dialogs: Arc<DialogLayer>,
}

/// What the dispatch loop needs for every request.
struct Dispatch {
    dialogs: Arc<DialogLayer>,
    calls: mpsc::Sender<IncomingCall>,
    public_address: IpAddr,
    trusted_peers: Vec<IpAddr>,
    advertised: Advertised,
    /// Whether new calls (and dispatcher probes) are welcome.
    admission: AdmissionGate,
    /// Cancelled at shutdown, when every connection closes without its calls having ended.
    stopping: CancellationToken,
    /// `media.srtp`: which offers are answered with SRTP, and which refused.
    srtp: SrtpMode,
}

impl SipServer {
    /// Binds the UDP socket and starts the endpoint. New calls arrive on the returned channel.
    /// The node always accepts; see [`SipServer::start_with_admission`].
    pub async fn start(
        cfg: SipConfig,
    ) -> Result<(SipServer, mpsc::Receiver<IncomingCall>), SipError> {
        SipServer::start_with_admission(cfg, AdmissionGate::new()).await
    }

    /// As [`SipServer::start`], refusing new INVITEs and out-of-dialog OPTIONS with 503 and
    /// `Retry-After` whenever `admission` says the node does not take calls. Requests inside
    /// the dialogs of calls in progress (ACK, BYE, INFO, re-INVITE) are served as always.
    pub async fn start_with_admission(
        cfg: SipConfig,
        admission: AdmissionGate,
    ) -> Result<(SipServer, mpsc::Receiver<IncomingCall>), SipError> {
        cfg.validate()?;
        let socket = tokio::net::UdpSocket::bind(cfg.listen)
            .await
            .map_err(|source| SipError::Bind {
                addr: cfg.listen,
                source,
            })?;
        let local_addr = socket.local_addr().map_err(|source| SipError::Bind {
            addr: cfg.listen,
            source,
        })?;
        let public = SocketAddr::new(cfg.public_address, local_addr.port());

        let cancel = CancellationToken::new();
        let gate = Arc::new(PeerGate::new(cfg.allowed_peers.clone()));
        let screened = Arc::new(ScreenedSocket::new(
            socket,
            cfg.log_messages,
            cfg.user_agent.clone(),
            gate.clone(),
        ));
        let udp = UdpConnection::from_socket(screened, Some(public), Some(cancel.child_token()))
            .await
            .map_err(|e| SipError::Stack(e.to_string()))?;
        let transport = TransportLayer::new(cancel.child_token());
        transport.add_transport(udp.into());
        transport.set_stream_idle_timeout(cfg.streams.idle_timeout);
        let streams = bind_listeners(&cfg).await?;
        let ports = StreamPorts {
            tcp: streams.tcp.as_ref().map(StreamListener::public_addr),
            tls: streams.tls.as_ref().map(StreamListener::public_addr),
        };

        let endpoint = EndpointBuilder::new()
            .with_user_agent(&cfg.user_agent)
            .with_transport_layer(transport)
            .with_cancel_token(cancel.child_token())
            .with_option(timers(&cfg))
            .with_inspector(Box::new(StreamInspector {
                ports,
                log_messages: cfg.log_messages,
            }))
            .with_allows(vec![
                Method::Invite,
                Method::Ack,
                Method::Cancel,
                Method::Bye,
                Method::Options,
                Method::Info,
                // The progress of a transfer we asked for by REFER (RFC 3515).
                Method::Notify,
            ])
            .build();
        let mut incoming = endpoint
            .incoming_transactions()
            .map_err(|e| SipError::Stack(e.to_string()))?;
        let dialogs = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let udp_contact = dialogs
            .build_local_contact(None, None)
            .map_err(|e| SipError::Stack(e.to_string()))?;
        let door = Arc::new(Door::new(gate, cfg.streams));
        let tcp_addr = streams.tcp.as_ref().map(StreamListener::local_addr);
        let tls_addr = streams.tls.as_ref().map(StreamListener::local_addr);
        for listener in [streams.tcp, streams.tls].into_iter().flatten() {
            listener.serve(door.clone(), endpoint.inner.clone(), cancel.child_token());
        }

        let (calls_tx, calls) = mpsc::channel(cfg.pending_calls.max(1));
        let dispatch = Arc::new(Dispatch {
            dialogs: dialogs.clone(),
            calls: calls_tx,
            public_address: cfg.public_address,
            trusted_peers: cfg.trusted_peers.clone(),
            advertised: Advertised {
                udp_contact,
                streams: ports,
            },
            admission,
            stopping: cancel.clone(),
            srtp: cfg.srtp,
        });
        tokio::spawn(async move { endpoint.serve().await });
        let stop = cancel.clone();
        tokio::spawn(async move {
            loop {
                let tx = tokio::select! {
                    _ = stop.cancelled() => break,
                    tx = incoming.recv() => match tx { Some(tx) => tx, None => break },
                };
                tokio::spawn(dispatch.clone().handle(tx));
            }
        });
        info!(listen = %local_addr, public = %public, "SIP listening on UDP");
        Ok((
            SipServer {
                local_addr,
                tcp_addr,
                tls_addr,
                cancel,
                dialogs,
            },
            calls,
        ))
    }

    /// The address SIP is received on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address SIP over TCP is received on, when `sip.tcp_listen` is set.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The address SIP over TLS is received on, when `sip.tls_listen` is set.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// Dialogs still held by the stack: 0 once every call has ended (a leak check).
    pub fn open_dialogs(&self) -> usize {
        self.dialogs.len()
    }

    /// Stops receiving and sending SIP. Calls in progress are not hung up.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

/// RFC 3261 timers scaled from T1 (T2 = 8·T1, T4 = 10·T1, as 4 s and 5 s are for 500 ms).
fn timers(cfg: &SipConfig) -> EndpointOption {
    EndpointOption {
        t1: cfg.t1,
        t2: cfg.t1 * 8,
        t4: cfg.t1 * 10,
        t1x64: cfg.t1 * 64,
        ..EndpointOption::default()
    }
}

impl Dispatch {
    /// One new server transaction, from the first request to its last response.
    async fn handle(self: Arc<Self>, mut tx: Transaction) {
        let method = tx.original.method;
        let in_dialog = tx
            .original
            .to_header()
            .ok()
            .and_then(|to| to.tag().ok().flatten())
            .is_some();
        if !in_dialog
            && method != Method::Ack
            && let Some((status, why)) = transports::scheme_refusal(&tx.original, transport_of(&tx))
        {
            info!(status, reason = %why, %method, "request refused");
            responses::reply(&mut tx, status, vec![warning(399, &why)]).await;
            return drain(tx).await;
        }
        if !in_dialog && method == Method::Invite {
            // Refused here, before any dialog, SDP or RTP port is spent: a flood of INVITEs
            // costs one small response each.
            return match self.admission.admit_call() {
                Ok(slot) => self.new_call(tx, slot).await,
                Err(refusal) => responses::refuse_new_invite(tx, &refusal).await,
            };
        }
        // A dispatcher's probe learns that the node is draining or without its database; an
        // overloaded node still answers 200, since it is healthy and frees slots every second
        // (each INVITE beyond the limits is refused on its own, and fails over alone).
        if !in_dialog
            && method == Method::Options
            && let Some(refusal) = self.admission.refusal()
        {
            debug!(reason = %refusal.reason, "OPTIONS answered 503: not taking calls");
            return responses::reply(&mut tx, 503, responses::refusal_headers(&refusal)).await;
        }
        let dialog = if in_dialog {
            self.dialogs.match_dialog(&tx)
        } else {
            None
        };
        match dialog {
            Some(Dialog::Invite(mut dialog)) => {
                if let Err(e) = dialog.handle(&mut tx).await {
                    debug!(%method, error = %e, "in-dialog request not handled");
                }
                // rsipstack ignores most requests before the ACK; never leave one unanswered.
                // 491 Request Pending tells the sender to retry, which suits a DTMF INFO sent
                // before its ACK: its key is taken once it arrives after the ACK
                // (docs/integrators.md).
                let answered = tx.last_response.is_some() || tx.is_terminated();
                if !answered && method != Method::Ack {
                    match method {
                        Method::Options => {
                            responses::reply(&mut tx, 200, responses::capabilities()).await
                        }
                        _ => responses::reply(&mut tx, 491, vec![]).await,
                    }
                }
            }
            _ => responses::answer_outside_dialog(&mut tx).await,
        }
    }

    /// A new INVITE: refuse it if its offer is unusable, else create the dialog, hand the call
    /// to the application and run the INVITE transaction (100, then whatever the application
    /// decides, 2xx retransmissions, CANCEL) until it ends.
    async fn new_call(&self, mut tx: Transaction, slot: CallSlot) {
        let source = source_of(&tx);
        let media = match offer_of(&tx.original, self.srtp).and_then(|m| self.same_family(m)) {
            Ok(media) => media,
            Err((status, why)) => {
                info!(status, reason = %why, "INVITE refused");
                responses::reply(&mut tx, status, vec![warning(status_warning(status), &why)])
                    .await;
                return drain(tx).await;
            }
        };
        let info = self.call_info(&tx.original, source, media);
        let (states_tx, states) = self.dialogs.new_dialog_state_channel();
        let secure = transports::asks_for_sips(&tx.original);
        let contact = self.advertised.contact(transport_of(&tx), secure);
        let created = self
            .dialogs
            .get_or_create_server_invite(&tx, states_tx, None, Some(contact));
        let dialog = match created {
            Ok(dialog) => dialog,
            Err(e) => {
                warn!(error = %e, "could not create a dialog for an INVITE");
                responses::reply(&mut tx, 500, vec![]).await;
                return drain(tx).await;
            }
        };
        let caller = crate::privacy::Personal(&info.caller.raw);
        info!(call_id = %info.call_id, %caller, called = %info.called, source = %info.source, "incoming call");
        let refuser = InviteRefuser::of(&tx);
        let leg = call::Leg {
            dialog: dialog.clone(),
            states,
            refuser: refuser.clone(),
            carrier: call::Carrier {
                closed: connection_closed(&tx),
                stopping: self.stopping.clone(),
            },
        };
        let (call, watcher) =
            call::new_call(info, slot, leg, self.dialogs.clone(), self.public_address);
        tokio::spawn(watcher);
        if let Err(refused) = self.calls.try_send(call) {
            // Only when the application falls behind a burst that the rate limit let through.
            warn!("too many calls waiting for the application; refusing with 503");
            let refusal = Refusal {
                reason: RefusalReason::TooManyNewCalls,
                retry_after: std::time::Duration::from_secs(1),
            };
            refuser.refuse(&dialog, &refusal);
            drop(refused);
        }
        let mut dialog = dialog;
        if let Err(e) = dialog.handle(&mut tx).await {
            debug!(error = %e, "INVITE transaction ended with an error");
        }
    }

    fn same_family(&self, media: NegotiatedMedia) -> Result<NegotiatedMedia, (u16, String)> {
        if media.remote_rtp.is_ipv4() == self.public_address.is_ipv4() {
            Ok(media)
        } else {
            Err((
                488,
                format!(
                    "media address {} is not of this server's IP family",
                    media.remote_rtp.ip()
                ),
            ))
        }
    }

    fn call_info(&self, request: &Request, source: SocketAddr, media: NegotiatedMedia) -> CallInfo {
        let from = header_values(request, "From").join(", ");
        let pai = header_values(request, "P-Asserted-Identity").join(", ");
        let privacy = header_values(request, "Privacy").join(";");
        let caller = CallerIdentity::from_headers(
            Some(pai.as_str()).filter(|p| !p.is_empty()),
            &from,
            Some(privacy.as_str()).filter(|p| !p.is_empty()),
            source.ip(),
            &self.trusted_peers,
        );
        let called = request
            .uri
            .user()
            .map(str::to_string)
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| identity::user_of(&header_values(request, "To").join("")));
        let call_id = request
            .call_id_header()
            .map(|c| c.value().to_string())
            .unwrap_or_default();
        CallInfo {
            call_id: CallId::new(call_id),
            caller,
            called,
            source,
            media,
        }
    }
}

/// The offer in an INVITE, or the status and words to refuse it with.
fn offer_of(request: &Request, srtp: SrtpMode) -> Result<NegotiatedMedia, (u16, String)> {
    if request.body.is_empty() {
        // Offerless INVITEs (offer in our 200, answer in the ACK) are not supported.
        return Err((488, "an SDP offer is required in the INVITE".into()));
    }
    let content_type = request.header_value("Content-Type").unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/sdp")
    {
        return Err((
            415,
            format!("unsupported body type {content_type:?}; application/sdp expected"),
        ));
    }
    let text = std::str::from_utf8(&request.body)
        .map_err(|_| (400, "the SDP body is not UTF-8".to_string()))?;
    sdp::negotiate(text, srtp).map_err(|e| {
        let status = match e {
            SdpError::Empty | SdpError::Malformed { .. } | SdpError::BadAddress(_) => 400,
            SdpError::NoRandomness => 500,
            _ => 488,
        };
        (status, e.to_string())
    })
}

/// RFC 3261 §20.43 warn-codes: 305 incompatible media format, 399 miscellaneous.
fn status_warning(status: u16) -> u16 {
    if status == 488 { 305 } else { 399 }
}

/// Every value of a header (several lines of the same name), as text.
fn header_values(request: &Request, name: &str) -> Vec<String> {
    use rsipstack::sip::HasHeaders;
    request
        .headers()
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .map(|h| h.value().trim().to_string())
        .collect()
}

/// Keeps a refused INVITE's transaction alive for its response retransmissions and the ACK.
async fn drain(mut tx: Transaction) {
    while tx.receive().await.is_some() {}
}
