//! One call's signalling: the handle the application drives it with ([`CallControl`]) and the
//! task that turns rsipstack's dialog states into [`CallEvent`]s and answers in-dialog requests.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rsipstack::dialog::dialog::{DialogState, DialogStateReceiver, TerminatedReason};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, StatusCode};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::identity::CallerIdentity;
use super::responses::{InviteRefuser, capabilities};
use super::sdp::{self, NegotiatedMedia};
use super::transfer::{self, ReferError, TransferProgress, TransferTarget};
use crate::admission::Refusal;
use crate::domain::{CallId, Digit};
use crate::media::dtmf::info::{ACCEPTED_TYPES, parse_info};
use crate::overload::CallSlot;

/// A new call, handed to the application once its SDP offer was found usable.
pub struct IncomingCall {
    pub info: CallInfo,
    /// Everything that happens to the call from now on. Open from the start, so a CANCEL before
    /// the answer is seen. Closed (`None`) once the call is over and its dialog released.
    pub events: mpsc::Receiver<CallEvent>,
    pub control: CallControl,
    /// The call's place among the calls in progress (`sip.max_calls`): hold it until the call
    /// is over; dropping it, whichever way the call ended, lets another call in.
    pub slot: CallSlot,
}

/// What the INVITE said about the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallInfo {
    pub call_id: CallId,
    pub caller: CallerIdentity,
    /// The dialled user (Request-URI user, else To user), e.g. `19009068`.
    pub called: String,
    /// Where the INVITE came from.
    pub source: SocketAddr,
    pub media: NegotiatedMedia,
}

/// What happened to a call.
#[derive(Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// The caller acknowledged our 200 OK: media may flow.
    Acked,
    /// CANCEL before the answer: 200 to the CANCEL and 487 to the INVITE were sent.
    Cancelled,
    /// The caller sent BYE; 200 was sent.
    HungUp,
    /// No ACK for our 200 OK within 64·T1 (RFC 3261 §13.3.1.4): the call is over and a BYE is
    /// on its way to the caller.
    AckTimeout,
    /// A key pressed, from an in-dialog INFO (`application/dtmf-relay` or `application/dtmf`)
    /// that was answered 200. An INFO without a readable key got 400 (or 415 for another
    /// content type) and no event.
    Dtmf(Digit),
    /// A NOTIFY of the transfer asked for with [`CallControl::transfer`] (answered 200) whose
    /// sipfrag could be read.
    Transfer(TransferProgress),
}

/// Keys are the caller's insurance code: `Debug` does not show them.
impl fmt::Debug for CallEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallEvent::Acked => f.write_str("Acked"),
            CallEvent::Cancelled => f.write_str("Cancelled"),
            CallEvent::HungUp => f.write_str("HungUp"),
            CallEvent::AckTimeout => f.write_str("AckTimeout"),
            CallEvent::Dtmf(_) => f.write_str("Dtmf(*)"),
            CallEvent::Transfer(progress) => f.debug_tuple("Transfer").field(progress).finish(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("the call has already ended")]
    Ended,
    #[error("the call was already answered")]
    AlreadyAnswered,
    #[error("{0} is not a status for refusing a call (300–699)")]
    NotARefusal(u16),
    #[error("the SIP stack refused: {0}")]
    Stack(String),
}

/// The application's handle on one call. Cheap to clone; when the last clone is dropped an
/// unanswered call is refused (500) and an answered one hung up, so no dialog is left behind.
#[derive(Clone)]
pub struct CallControl {
    shared: Arc<Shared>,
}

struct Shared {
    dialog: InviteDialog,
    /// Refuses the INVITE with headers rsipstack's `reject` cannot add (Retry-After).
    refuser: InviteRefuser,
    media: NegotiatedMedia,
    public_address: IpAddr,
    session_id: u64,
    /// Our SDP answer once sent; a re-INVITE (session refresh) gets it again.
    answer: Arc<Mutex<Option<String>>>,
    /// Set by the first hangup, so clones hanging up together send one BYE; also when the
    /// connection the call came on closed, since no BYE can reach the caller then.
    hanging_up: Arc<AtomicBool>,
}

/// The TCP or TLS connection a call's INVITE came on: its closing ends the call, as if the
/// caller had hung up (the phone is gone, and with it any way to reach it in the dialog).
pub(super) struct Carrier {
    /// Cancelled by rsipstack when the connection is closed or idles out; `None` over UDP.
    pub closed: Option<CancellationToken>,
    /// The server's own shutdown, which closes every connection without ending the calls.
    pub stopping: CancellationToken,
}

impl Carrier {
    /// Resolves when the connection is lost, never over UDP or at shutdown.
    async fn lost(&self) {
        if let Some(closed) = &self.closed {
            closed.cancelled().await;
            if !self.stopping.is_cancelled() {
                return;
            }
        }
        std::future::pending::<()>().await
    }
}

/// rsipstack's side of one new call.
pub(super) struct Leg {
    pub dialog: InviteDialog,
    pub states: DialogStateReceiver,
    pub refuser: InviteRefuser,
    pub carrier: Carrier,
}

impl CallControl {
    /// 180 Ringing.
    pub async fn ring(&self) -> Result<(), CallError> {
        self.alive()?;
        stack(self.shared.dialog.ringing(None, None))
    }

    /// 200 OK with our SDP answer, RTP expected on `local_rtp_port` at the public address.
    /// rsipstack retransmits it until the ACK comes ([`CallEvent::Acked`]) or 64·T1 pass
    /// ([`CallEvent::AckTimeout`]).
    pub async fn answer(&self, local_rtp_port: u16) -> Result<(), CallError> {
        self.alive()?;
        let shared = &self.shared;
        let sdp = sdp::answer(
            shared.public_address,
            local_rtp_port,
            &shared.media,
            shared.session_id,
        );
        {
            let mut answer = shared
                .answer
                .lock()
                .map_err(|_| CallError::Stack("poisoned".into()))?;
            if answer.is_some() {
                return Err(CallError::AlreadyAnswered);
            }
            *answer = Some(sdp.clone());
        }
        let headers = vec![Header::ContentType("application/sdp".into())];
        stack(shared.dialog.accept(Some(headers), Some(sdp.into_bytes())))
    }

    /// Refuses an unanswered call with `status` (e.g. 486 Busy Here, 503 when no RTP port is free).
    pub async fn reject(&self, status: u16) -> Result<(), CallError> {
        if !(300..=699).contains(&status) {
            return Err(CallError::NotARefusal(status));
        }
        self.alive()?;
        if self.is_answered() {
            return Err(CallError::AlreadyAnswered);
        }
        stack(
            self.shared
                .dialog
                .reject(Some(StatusCode::from(status)), None),
        )
    }

    /// Refuses an unanswered call with 503 and `Retry-After` (no RTP port free, the database
    /// gone): the caller's dispatcher tries another node, and knows when to come back.
    pub async fn refuse(&self, refusal: &Refusal) -> Result<(), CallError> {
        self.alive()?;
        if self.is_answered() {
            return Err(CallError::AlreadyAnswered);
        }
        self.shared.refuser.refuse(&self.shared.dialog, refusal);
        Ok(())
    }

    /// Ends the call: BYE once answered, 480 Temporarily Unavailable before. Ending an ended call
    /// is not an error.
    ///
    /// Returns as soon as the BYE is handed to its transaction, without waiting for the caller's
    /// 200 (up to 64·T1 when the caller is gone); the events channel closes when the BYE is done.
    pub async fn hangup(&self) -> Result<(), CallError> {
        if self.alive().is_err() || self.shared.hanging_up.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if self.is_answered() {
            let dialog = self.shared.dialog.clone();
            tokio::spawn(async move {
                if let Err(e) = dialog.bye().await {
                    debug!(call_id = %dialog.id().call_id, error = %e, "BYE not confirmed");
                }
            });
            Ok(())
        } else {
            stack(
                self.shared
                    .dialog
                    .reject(Some(StatusCode::TemporarilyUnavailable), None),
            )
        }
    }

    /// Asks the caller's side to call `target` instead (REFER, RFC 3515). Returns once the
    /// REFER is answered: `Ok` means the transferee will try, and its NOTIFYs come as
    /// [`CallEvent::Transfer`]; our leg stays up until the application hangs it up.
    pub async fn transfer(&self, target: &TransferTarget) -> Result<(), ReferError> {
        self.alive().map_err(|e| ReferError::Stack(e.to_string()))?;
        transfer::send_refer(&self.shared.dialog, target).await
    }

    fn alive(&self) -> Result<(), CallError> {
        match self.shared.dialog.state() {
            DialogState::Terminated(..) => Err(CallError::Ended),
            _ => Ok(()),
        }
    }

    fn is_answered(&self) -> bool {
        self.shared
            .answer
            .lock()
            .map(|a| a.is_some())
            .unwrap_or(true)
    }
}

fn stack(result: rsipstack::Result<()>) -> Result<(), CallError> {
    result.map_err(|e| CallError::Stack(e.to_string()))
}

impl Drop for Shared {
    /// The safety net for an application that forgets a call: leave nothing half-open.
    fn drop(&mut self) {
        match self.dialog.state() {
            DialogState::Terminated(..) => {}
            _ if self.hanging_up.load(Ordering::SeqCst) => {}
            DialogState::WaitAck(..) | DialogState::Confirmed(..) => {
                let dialog = self.dialog.clone();
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    runtime.spawn(async move { dialog.bye().await.ok() });
                }
            }
            _ => {
                self.dialog
                    .reject(Some(StatusCode::ServerInternalError), None)
                    .ok();
            }
        }
    }
}

/// Builds the call handed to the application and the task that follows its dialog.
pub(super) fn new_call(
    info: CallInfo,
    slot: CallSlot,
    leg: Leg,
    dialogs: Arc<DialogLayer>,
    public_address: IpAddr,
) -> (IncomingCall, impl Future<Output = ()> + Send + 'static) {
    let (events_tx, events) = mpsc::channel(32);
    let answer = Arc::new(Mutex::new(None));
    let hanging_up = Arc::new(AtomicBool::new(false));
    let shared = Shared {
        dialog: leg.dialog.clone(),
        refuser: leg.refuser,
        media: info.media.clone(),
        public_address,
        session_id: uuid::Uuid::new_v4().as_u64_pair().0 >> 1,
        answer: answer.clone(),
        hanging_up: hanging_up.clone(),
    };
    let watcher = Watcher {
        dialog: leg.dialog,
        dialogs,
        events: events_tx,
        answer,
        acked: false,
        carrier: leg.carrier,
        hanging_up,
        transfer_news: None,
    };
    let call = IncomingCall {
        info,
        events,
        control: CallControl {
            shared: Arc::new(shared),
        },
        slot,
    };
    (call, watcher.run(leg.states))
}

/// Follows one dialog until it ends, then removes it from the dialog layer (rsipstack leaks it
/// otherwise).
struct Watcher {
    dialog: InviteDialog,
    dialogs: Arc<DialogLayer>,
    events: mpsc::Sender<CallEvent>,
    answer: Arc<Mutex<Option<String>>>,
    acked: bool,
    carrier: Carrier,
    hanging_up: Arc<AtomicBool>,
    /// What the last NOTIFY said, held until its 200 has gone out (see `on_state`).
    transfer_news: Option<TransferProgress>,
}

impl Watcher {
    async fn run(mut self, mut states: DialogStateReceiver) {
        let id = self.dialog.id();
        loop {
            tokio::select! {
                state = states.recv() => {
                    let Some(state) = state else { break };
                    if let Some(ended) = self.on_state(state).await {
                        info!(call_id = %id.call_id, reason = ?ended, "call ended");
                        break;
                    }
                }
                () = self.carrier.lost() => {
                    self.hanging_up.store(true, Ordering::SeqCst);
                    info!(call_id = %id.call_id, "call ended: its connection closed; taken as the caller hanging up");
                    self.emit(CallEvent::HungUp).await;
                    break;
                }
            }
        }
        self.dialogs.remove_dialog(&id);
        debug!(call_id = %id.call_id, "dialog released");
    }

    /// Handles one state change; `Some(reason)` when the dialog is over.
    async fn on_state(&mut self, state: DialogState) -> Option<TerminatedReason> {
        match state {
            DialogState::Confirmed(..) if !self.acked => {
                self.acked = true;
                self.emit(CallEvent::Acked).await;
            }
            // The dialog returns to Confirmed once a NOTIFY's response has been sent. Only then
            // is its news passed on: a 2xx makes the application hang up, and the BYE must not
            // overtake the 200 to the NOTIFY that caused it.
            DialogState::Confirmed(..) => {
                if let Some(progress) = self.transfer_news.take() {
                    self.emit(CallEvent::Transfer(progress)).await;
                }
            }
            DialogState::Info(_, request, handle) => {
                let content_type = request.header_value("Content-Type").unwrap_or_default();
                match parse_info(&content_type, &request.body) {
                    Ok(digit) => {
                        handle.reply(StatusCode::OK).await.ok();
                        self.emit(CallEvent::Dtmf(digit)).await;
                    }
                    Err(e) => {
                        // The reason, not the body: a body may hold part of an insurance code.
                        debug!(call_id = %self.dialog.id().call_id, reason = %e, "INFO without a key");
                        let headers = (e.status() == 415)
                            .then(|| vec![Header::Accept(ACCEPTED_TYPES.into())]);
                        handle
                            .respond(StatusCode::from(e.status()), headers, None)
                            .await
                            .ok();
                    }
                }
            }
            DialogState::Options(_, _, handle) => {
                handle
                    .respond(StatusCode::OK, Some(capabilities()), None)
                    .await
                    .ok();
            }
            DialogState::Updated(_, request, handle) => {
                let answer = self.answer.lock().ok().and_then(|a| a.clone());
                match answer {
                    // A re-INVITE or UPDATE with an offer is a session refresh (or a change we do
                    // not make): the same answer keeps the call as it is.
                    Some(sdp) if request.method == Method::Invite || !request.body.is_empty() => {
                        let headers = vec![Header::ContentType("application/sdp".into())];
                        handle
                            .respond(StatusCode::OK, Some(headers), Some(sdp.into_bytes()))
                            .await
                            .ok();
                    }
                    Some(_) => {
                        handle.reply(StatusCode::OK).await.ok();
                    }
                    None => {
                        handle.reply(StatusCode::RequestPending).await.ok();
                    }
                }
            }
            DialogState::Notify(_, request, handle) => {
                let (status, progress) = transfer::read_notify(&request);
                handle.reply(status.clone()).await.ok();
                match progress {
                    Some(progress) => self.transfer_news = Some(progress),
                    None => {
                        debug!(call_id = %self.dialog.id().call_id, %status, "NOTIFY without a transfer status")
                    }
                }
            }
            DialogState::Refer(_, _, handle)
            | DialogState::Message(_, _, handle)
            | DialogState::Publish(_, _, handle) => {
                handle.reply(StatusCode::MethodNotAllowed).await.ok();
            }
            DialogState::Terminated(_, reason) => {
                let event = match reason {
                    TerminatedReason::UacCancel => Some(CallEvent::Cancelled),
                    TerminatedReason::UacBye => Some(CallEvent::HungUp),
                    TerminatedReason::Timeout if self.answer.lock().is_ok_and(|a| a.is_some()) => {
                        Some(CallEvent::AckTimeout)
                    }
                    _ => None,
                };
                if let Some(event) = event {
                    self.emit(event).await;
                }
                return Some(reason);
            }
            _ => {}
        }
        None
    }

    async fn emit(&self, event: CallEvent) {
        if self.events.send(event).await.is_err() {
            warn!(call_id = %self.dialog.id().call_id, "call event dropped: the application stopped listening");
        }
    }
}
