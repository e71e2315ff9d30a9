//! One call, from the INVITE handed over by the SIP layer to the closed CDR.
//!
//! The driver is the only place where the pure call flow (`ivr::Flow`) meets the world: it turns
//! SIP events, media events, timers and database answers into `ivr::Event`s, and executes the
//! `ivr::Action`s that come back. Database work runs in spawned tasks that report back through a
//! channel, so a 30 ms password hash never holds up a digit or a timer of this call.

use std::sync::Arc;

use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::Services;
use super::billing_clock::BillingClock;
use super::billing_writer::{BillingWrite, BillingWriter};
use super::timers::Timers;
use crate::admission::{Refusal, RefusalReason};
use crate::domain::{AccountKey, CallId, NodeId, Outcome, PhoneNumber};
use crate::ivr::{Action, Event, Flow, TimerId, Verification};
use crate::media::dtmf::DtmfSources;
use crate::media::srtp::SrtpSession;
use crate::media::{MediaEvent, MediaHandle, MediaParams, MediaReport};
use crate::overload::NO_RTP_PORT_RETRY_AFTER;
use crate::sip::{CallControl, CallEvent, CallInfo, IncomingCall};
use crate::store::{NewCdr, ResetResult, StoreError, VerificationRecord, VerificationResult};
use crate::telemetry;

mod transfer;

/// Runs one call to its end. Never returns an error: whatever happens is logged and billed.
pub async fn run(services: Arc<Services>, call: IncomingCall, shutdown: CancellationToken) {
    // The INVITE was handed over just now (the SIP layer queues it for this task at once): the
    // set-up time runs from here to the 200 OK.
    let invited = Instant::now();
    let IncomingCall {
        info,
        mut events,
        control,
        // Held to the end of this function, whichever way it returns: the call counts against
        // `sip.max_calls` until its port is free and its CDR closed.
        slot: _slot,
    } = call;
    let call_id = info.call_id.clone();
    // The SIP layer refuses INVITEs while the database is away; this one slipped past the gate
    // just as it closed. Answering would bill the caller only to tell them "system busy".
    if let Some(refusal) = services.admission.refusal()
        && refusal.reason == RefusalReason::DatabaseUnreachable
    {
        info!(%call_id, "database unreachable: refusing the call with 503");
        let _ = control.refuse(&refusal).await;
        return;
    }
    if !ring(&services, &control, &mut events).await {
        debug!(%call_id, "cancelled before answer");
        return;
    }
    // Before the answer, which hands the caller our key: a call we could not encrypt is
    // refused rather than answered.
    let srtp = match info.media.srtp.as_ref().map(|s| SrtpSession::new(&s.keys)) {
        None => None,
        Some(Ok(srtp)) => Some(srtp),
        Some(Err(e)) => {
            warn!(%call_id, error = %e, "cannot set up SRTP: refusing the call with 500");
            let _ = control.reject(500).await;
            return;
        }
    };
    debug!(%call_id, srtp = srtp.is_some(), "media protection");
    let (socket, lease) = match services.ports.bind(services.config.sip.listen.ip()) {
        Ok(bound) => bound,
        Err(e) => {
            warn!(%call_id, error = %e, "no RTP port free: refusing the call with 503");
            let refusal = Refusal {
                reason: RefusalReason::NoRtpPort,
                retry_after: NO_RTP_PORT_RETRY_AFTER,
            };
            let _ = control.refuse(&refusal).await;
            return;
        }
    };
    let local_port = lease.port();
    if let Err(e) = control.answer(local_port).await {
        warn!(%call_id, error = %e, "could not answer");
        return;
    }
    let answered_at = OffsetDateTime::now_utc();
    let answered = Instant::now();
    telemetry::call_set_up(answered.duration_since(invited));
    let billing = BillingWriter::spawn(
        services.billing_sink.clone(),
        call_id.clone(),
        services.admission.clone(),
        services.last_chance.clone(),
        &services.billing_writes,
    );
    // The store bills minute 1 in the same transaction that opens the CDR.
    billing.write(BillingWrite::Open(new_cdr(
        &info,
        answered_at,
        &services.config.node.id,
    )));

    let dtmf = DtmfSources::choose(
        services.config.dtmf_mode(info.source.ip()),
        info.media.telephone_event_pt,
    );
    debug!(%call_id, ?dtmf, "DTMF sources");
    let params = MediaParams {
        remote: info.media.remote_rtp,
        codec: info.media.codec,
        payload_type: info.media.payload_type,
        telephone_event_pt: info.media.telephone_event_pt,
        dtmf,
        sources: services.config.rtp_sources(info.source.ip()),
        srtp,
    };
    let (media, media_events) = services.media.spawn(socket, lease, params);
    let flow = Flow::new(services.flow_config(), info.caller.number.clone());
    let driver = CallDriver {
        services: services.clone(),
        call_id: call_id.clone(),
        caller: info.caller.number.clone(),
        flow,
        media,
        control,
        timers: Timers::new(),
        billing: BillingClock::new(answered),
        billing_writer: billing,
        verifications: 0,
        deadline: answered + services.config.max_call_duration(),
        info_dtmf: dtmf.info,
        results: mpsc::unbounded_channel(),
    };
    let (outcome, media) = driver.run(events, media_events, shutdown).await;
    // Packets from elsewhere than the call's source (strict and symmetric RTP): a count well
    // above a handful means someone sprayed the port range, or a NAT moved the caller's port.
    let rtp_dropped = media.rtp_dropped;
    telemetry::call_ended(outcome);
    match media.latched_to {
        Some(latched) => info!(%call_id, %outcome, rtp_dropped, %latched, "call ended"),
        None => info!(%call_id, %outcome, rtp_dropped, "call ended"),
    }
}

/// Rings for `sip.answer_delay_ms`; false when the caller gave up (CANCEL) meanwhile.
async fn ring(
    services: &Services,
    control: &CallControl,
    events: &mut mpsc::Receiver<CallEvent>,
) -> bool {
    let delay = std::time::Duration::from_millis(services.config.sip.answer_delay_ms);
    if delay.is_zero() {
        return true;
    }
    let _ = control.ring().await;
    let until = Instant::now() + delay;
    loop {
        tokio::select! {
            _ = sleep_until(until) => return true,
            event = events.recv() => match event {
                Some(CallEvent::Cancelled) | Some(CallEvent::HungUp) | None => return false,
                Some(_) => {}
            },
        }
    }
}

fn new_cdr(info: &CallInfo, answered_at: OffsetDateTime, node: &NodeId) -> NewCdr {
    NewCdr {
        call_id: info.call_id.clone(),
        caller_raw: info.caller.raw.clone(),
        caller: info.caller.number.clone(),
        called: info.called.clone(),
        source: info.source.to_string(),
        answered_at,
        node: node.clone(),
    }
}

/// A store error met by a call: one that says the database is gone closes the admission gate at
/// once, rather than at the monitor's next ping.
fn note_store_error(services: &Services, error: &StoreError) {
    if error.is_unreachable() && services.admission.database_unreachable() {
        warn!(%error, "database unreachable: refusing new calls with 503");
    }
}

struct CallDriver {
    services: Arc<Services>,
    call_id: CallId,
    caller: Option<PhoneNumber>,
    flow: Flow,
    media: MediaHandle,
    control: CallControl,
    timers: Timers<TimerId>,
    billing: BillingClock,
    /// Writes the CDR, the ticks and the audit of each verification, retrying while the
    /// database is away.
    billing_writer: BillingWriter,
    /// Verifications asked for so far (the audit numbers them).
    verifications: u32,
    /// The safety net: the call ends here whatever the flow is doing.
    deadline: Instant,
    /// Whether digits from SIP INFO are taken (see `DtmfSources`).
    info_dtmf: bool,
    /// Answers from database tasks, fed back into the flow.
    results: (mpsc::UnboundedSender<Event>, mpsc::UnboundedReceiver<Event>),
}

/// Why the loop stopped.
enum End {
    /// The flow finished (it hung up, or was told the caller did).
    Flow,
    /// The service is shutting down or the call overran: we hang up.
    Forced(Outcome),
}

impl CallDriver {
    async fn run(
        mut self,
        mut sip: mpsc::Receiver<CallEvent>,
        mut media: mpsc::UnboundedReceiver<MediaEvent>,
        shutdown: CancellationToken,
    ) -> (Outcome, MediaReport) {
        self.feed(Event::Answered).await;
        let end = loop {
            if self.flow.is_finished() {
                break End::Flow;
            }
            let timer = self.timers.next_deadline();
            let (minute, tick_at) = self.billing.next();
            tokio::select! {
                event = sip.recv() => match event {
                    Some(CallEvent::HungUp) | Some(CallEvent::AckTimeout) | Some(CallEvent::Cancelled) | None => {
                        self.feed(Event::HungUp).await;
                    }
                    Some(CallEvent::Dtmf(digit)) if self.info_dtmf => {
                        telemetry::info_key_received();
                        self.feed(Event::Digit(digit)).await
                    }
                    Some(CallEvent::Transfer(progress)) => {
                        debug!(call_id = %self.call_id, ?progress, "transfer NOTIFY");
                        self.feed(Event::Transfer(transfer::report(progress))).await
                    }
                    // INFO was answered 200 by the SIP layer but this trunk is set to another source.
                    Some(CallEvent::Acked) | Some(CallEvent::Dtmf(_)) => {}
                },
                event = media.recv() => match event {
                    Some(MediaEvent::Digit(digit)) => self.feed(Event::Digit(digit)).await,
                    Some(MediaEvent::PlaybackFinished(id)) => self.feed(Event::PlaybackFinished(id)).await,
                    // The media session is gone (its pump shard stopped): without audio the flow would
                    // wait for a prompt that never ends while the caller pays; end the call.
                    None => break End::Forced(Outcome::Error),
                },
                Some(event) = self.results.1.recv() => self.feed(event).await,
                _ = sleep_until(timer.unwrap_or(self.deadline)), if timer.is_some() => {
                    for id in self.timers.take_due(Instant::now()) {
                        self.feed(Event::TimerFired(id)).await;
                    }
                }
                _ = sleep_until(tick_at) => self.bill_minute(minute),
                _ = sleep_until(self.deadline) => break End::Forced(Outcome::Error),
                _ = shutdown.cancelled() => break End::Forced(Outcome::Interrupted),
            }
        };
        let outcome = match end {
            End::Forced(forced) => {
                warn!(call_id = %self.call_id, outcome = %forced, "ending the call from our side");
                let _ = self.control.hangup().await;
                self.flow.outcome().unwrap_or(forced)
            }
            End::Flow => self.flow.outcome().unwrap_or(Outcome::Error),
        };
        // The call ends now for billing, whenever the database takes the row.
        let ended_at = OffsetDateTime::now_utc();
        // Wait for the media pump to close the socket, so the port is free again when we return.
        let media = self.media.shutdown().await;
        // Only then the close: a closed CDR means the call's resources are free again.
        self.billing_writer
            .write(BillingWrite::Close { ended_at, outcome });
        (outcome, media)
    }

    /// Hands one event to the flow and carries out what it asks for.
    async fn feed(&mut self, event: Event) {
        for action in self.flow.handle(event) {
            self.execute(action).await;
        }
    }

    async fn execute(&mut self, action: Action) {
        match action {
            Action::Play { id, clips } => self.media.play(id, clips),
            Action::StopPlayback => self.media.stop_playback(),
            Action::StartTimer { id, after } => self.timers.arm(id, after, Instant::now()),
            Action::CancelTimer(id) => self.timers.cancel(id),
            Action::CheckCaller => self.check_caller(),
            Action::Verify(key) => self.verify(key),
            Action::Transfer => self.transfer(),
            Action::Outcome(outcome) => debug!(call_id = %self.call_id, %outcome, "outcome"),
            Action::Hangup => {
                if let Err(e) = self.control.hangup().await {
                    warn!(call_id = %self.call_id, error = %e, "BYE failed");
                }
            }
        }
    }

    /// Runs database work beside the call, so a slow query or a 30 ms hash never holds up its
    /// digits and timers; the answer comes back as an event for the flow.
    fn in_background(&self, work: impl Future<Output = Event> + Send + 'static) {
        let results = self.results.0.clone();
        tokio::spawn(async move {
            let _ = results.send(work.await);
        });
    }

    /// Is the calling number locked out? A database failure here is not a lock-out: the
    /// verification that follows will meet the same failure and say "system busy".
    fn check_caller(&self) {
        let (services, call_id) = (self.services.clone(), self.call_id.clone());
        let caller = self.caller.clone();
        self.in_background(async move {
            let Some(caller) = caller else {
                // The flow never asks for a withheld number; were it to, nothing is locked.
                return Event::CallerChecked { locked_out: false };
            };
            let now = OffsetDateTime::now_utc();
            let locked_out = match services
                .store
                .caller_locked_out(&caller, &services.limits, now)
                .await
            {
                Ok(locked) => locked,
                Err(e) => {
                    note_store_error(&services, &e);
                    warn!(%call_id, error = %e, "lock-out check failed");
                    false
                }
            };
            Event::CallerChecked { locked_out }
        });
    }

    /// Limits, lookup, match, new password hashed and stored: all off this task. The password
    /// comes back only once it is stored, and goes straight into the flow; the audit record of
    /// the verification follows the call's other rows.
    fn verify(&mut self, key: AccountKey) {
        self.verifications += 1;
        let (services, call_id) = (self.services.clone(), self.call_id.clone());
        let (caller, attempt) = (self.caller.clone(), self.verifications);
        let audit = self.billing_writer.clone();
        self.in_background(async move {
            let Some(caller) = caller else {
                return Event::Verified(Verification::Unavailable);
            };
            let (hasher, limits, now) = (&services.hasher, &services.limits, OffsetDateTime::now_utc());
            let started = Instant::now();
            let reset = services.store.verify_and_reset(hasher, limits, &caller, &key, now).await;
            telemetry::store_call("verify_and_reset", started.elapsed(), reset.is_ok());
            let verification = match reset {
                Ok(ResetResult::Reset(password)) => {
                    telemetry::password_reset();
                    Verification::Reset(password)
                }
                Ok(ResetResult::Mismatch) => Verification::Mismatch,
                Ok(ResetResult::TooManyAttempts) => Verification::TooManyAttempts,
                Err(e) => {
                    note_store_error(&services, &e);
                    warn!(%call_id, error = %e, "verification failed: the caller hears 'system busy'");
                    Verification::Unavailable
                }
            };
            let result = match &verification {
                Verification::Reset(_) => VerificationResult::Reset,
                Verification::Mismatch => VerificationResult::Mismatch,
                Verification::TooManyAttempts => VerificationResult::LockedOut,
                Verification::Unavailable => VerificationResult::SystemBusy,
            };
            audit.write(BillingWrite::Verification(VerificationRecord {
                call_id,
                attempt,
                at: now,
                node: services.config.node.id.clone(),
                caller,
                keyed: key,
                result,
            }));
            Event::Verified(verification)
        });
    }

    fn bill_minute(&mut self, minute: u32) {
        self.billing.advance();
        self.billing_writer.write(BillingWrite::Tick {
            minute,
            at: OffsetDateTime::now_utc(),
        });
    }
}
