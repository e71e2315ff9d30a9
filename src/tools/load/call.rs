//! One call's signalling as a sans-I/O state machine: messages and the time go in
//! ([`Call::handle`], [`Call::poll`]), SIP text to send and media start/stop come out
//! ([`Call::outputs`]). The control loop runs thousands of these over one socket; the tests run
//! one on a virtual clock.
//!
//! ```text
//!  Inviting ──2xx──▶ Up ──service's BYE (reset flow)──────────────▶ Lingering ──▶ Done
//!     │               └─hold elapsed: our BYE (answer flow)─▶ Byeing ──200──┘
//!     └──≥300 / 32 s──────────────────────────────────────────────────▶ Lingering / Done
//! ```
//!
//! Lingering keeps the call half a second after its end, to answer retransmissions (of the
//! service's BYE or 2xx) and to let the last RTP packets arrive before the media is counted.

use std::time::{Duration, Instant};

use super::sdp::Answer;
use super::sip::{Leg, Message, Start, response};

/// RFC 3261 T1: the first retransmission interval.
const T1: Duration = Duration::from_millis(500);
/// RFC 3261 T2: the cap of non-INVITE retransmission intervals.
const T2: Duration = Duration::from_secs(4);
/// Timer B / F: 64 × T1.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(32);
/// How long an ended call stays to absorb retransmissions and late RTP.
const LINGER: Duration = Duration::from_millis(500);

/// Which call the generator places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowKind {
    /// The whole branch-8 flow: keys, the password read twice, the service's BYE.
    Reset,
    /// INVITE, 200, ACK, hold, our BYE: set-ups per second.
    Answer,
}

impl FlowKind {
    pub fn name(self) -> &'static str {
        match self {
            FlowKind::Reset => "reset",
            FlowKind::Answer => "answer",
        }
    }
}

/// What a call asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this datagram to the service.
    Send(String),
    /// The call was answered: start media with the service.
    Answered(Answer),
    /// The call is over (its media may be collected); `None` is a clean end.
    Ended(Option<String>),
}

#[derive(Debug)]
enum State {
    Inviting {
        next_retransmit: Instant,
        interval: Duration,
        provisional: bool,
    },
    Up {
        since: Instant,
    },
    Byeing {
        bye: String,
        next_retransmit: Instant,
        interval: Duration,
        deadline: Instant,
    },
    Lingering {
        until: Instant,
        failure: Option<String>,
    },
    Done,
}

/// One call.
#[derive(Debug)]
pub struct Call {
    leg: Leg,
    flow: FlowKind,
    hold: Duration,
    /// Longest the service may take from answer to BYE (reset flow).
    overall: Duration,
    state: State,
    invite: String,
    invite_branch: String,
    branches: u32,
    to_tag: Option<String>,
    /// The Contact of the 2xx: where in-dialog requests go.
    remote_target: Option<String>,
    /// The 2xx's Record-Route, reversed: the Route of our ACK and BYE, so that they pass the
    /// record-routing proxies (Kamailio) in front of the service. They are still sent to
    /// --target, which is the first of them when the proxy is the target.
    route_set: Vec<String>,
    /// The ACK sent, resent for every retransmitted final response.
    ack: Option<String>,
    pub invited_at: Instant,
    pub answered_at: Option<Instant>,
    /// When the call ended (BYE received, or our BYE answered).
    pub ended_at: Option<Instant>,
    out: Vec<Output>,
}

const INVITE_CSEQ: u32 = 1;

impl Call {
    /// Starts a call: the INVITE is the first output.
    pub fn start(leg: Leg, flow: FlowKind, hold: Duration, offer: &str, now: Instant) -> Call {
        let invite_branch = format!("z9hG4bK-{}-0", leg.call_id);
        let invite = leg.request(
            "INVITE",
            &leg.request_uri,
            INVITE_CSEQ,
            &invite_branch,
            &[],
            None,
            Some(offer),
        );
        Call {
            leg,
            flow,
            hold,
            overall: Duration::from_secs(120),
            state: State::Inviting {
                next_retransmit: now + T1,
                interval: T1,
                provisional: false,
            },
            out: vec![Output::Send(invite.clone())],
            invite,
            invite_branch,
            branches: 0,
            to_tag: None,
            remote_target: None,
            route_set: Vec::new(),
            ack: None,
            invited_at: now,
            answered_at: None,
            ended_at: None,
        }
    }

    pub fn call_id(&self) -> &str {
        &self.leg.call_id
    }

    /// The call holds a place under `--concurrent`: not yet ended. A lingering call only waits
    /// for stragglers and holds no resources at the service.
    pub fn is_up(&self) -> bool {
        !matches!(self.state, State::Lingering { .. } | State::Done)
    }

    /// Nothing more will happen: the driver may drop the call.
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// What to do, in order.
    pub fn outputs(&mut self) -> std::vec::Drain<'_, Output> {
        self.out.drain(..)
    }

    /// A message of this call (the driver demultiplexed it by Call-ID).
    pub fn handle(&mut self, msg: &Message<'_>, now: Instant) {
        match msg.start {
            Start::Request { method } => self.on_request(method, msg, now),
            Start::Response { status } => match msg.cseq() {
                Some((INVITE_CSEQ, "INVITE")) => self.on_invite_response(status, msg, now),
                Some((_, "BYE")) => self.on_bye_response(status, now),
                _ => {}
            },
        }
    }

    /// Timers: retransmissions, the hold of the answer flow, the guards.
    pub fn poll(&mut self, now: Instant) {
        match &mut self.state {
            State::Inviting {
                next_retransmit,
                interval,
                provisional,
            } => {
                if now >= self.invited_at + TRANSACTION_TIMEOUT {
                    self.end_now(Some("invite timeout".into()));
                } else if !*provisional && now >= *next_retransmit {
                    // Timer A doubles without a cap (RFC 3261 §17.1.1.2).
                    *interval *= 2;
                    *next_retransmit = now + *interval;
                    self.out.push(Output::Send(self.invite.clone()));
                }
            }
            State::Up { since } => {
                let since = *since;
                match self.flow {
                    FlowKind::Answer if now >= since + self.hold => self.send_bye(now),
                    FlowKind::Reset if now >= since + self.overall => {
                        // Hang up ourselves so the service frees the call too.
                        self.send_bye(now);
                        let secs = self.overall.as_secs();
                        self.linger(now, Some(format!("no bye within {secs} s")));
                    }
                    _ => {}
                }
            }
            State::Byeing {
                bye,
                next_retransmit,
                interval,
                deadline,
            } => {
                if now >= *deadline {
                    self.end_now(Some("bye timeout".into()));
                } else if now >= *next_retransmit {
                    *interval = (*interval * 2).min(T2);
                    *next_retransmit = now + *interval;
                    self.out.push(Output::Send(bye.clone()));
                }
            }
            State::Lingering { until, failure } => {
                if now >= *until {
                    let failure = failure.take();
                    self.end_now(failure);
                }
            }
            State::Done => {}
        }
    }

    fn on_invite_response(&mut self, status: u16, msg: &Message<'_>, now: Instant) {
        let inviting = matches!(self.state, State::Inviting { .. });
        match status {
            100..=199 => {
                if let State::Inviting { provisional, .. } = &mut self.state {
                    *provisional = true;
                }
            }
            200..=299 if inviting => {
                self.answered_at = Some(now);
                self.to_tag = msg.to_tag().map(str::to_owned);
                self.remote_target = msg.contact_uri().map(str::to_owned);
                self.route_set = msg
                    .record_route()
                    .into_iter()
                    .rev()
                    .map(str::to_owned)
                    .collect();
                let uri = self.in_dialog_uri();
                let branch = self.next_branch();
                let ack = self.leg.request(
                    "ACK",
                    &uri,
                    INVITE_CSEQ,
                    &branch,
                    &self.route_set,
                    self.to_tag.as_deref(),
                    None,
                );
                self.send_ack(ack);
                match Answer::parse(msg.body) {
                    Ok(answer) => {
                        self.out.push(Output::Answered(answer));
                        self.state = State::Up { since: now };
                    }
                    Err(e) => {
                        self.send_bye(now);
                        self.linger(now, Some(e.to_string()));
                    }
                }
            }
            300.. if inviting => {
                // A failure's ACK is part of the INVITE transaction: its branch (§17.1.1.3).
                let to_tag = msg.to_tag().map(str::to_owned);
                let ack = self.leg.request(
                    "ACK",
                    &self.leg.request_uri,
                    INVITE_CSEQ,
                    &self.invite_branch,
                    &[],
                    to_tag.as_deref(),
                    None,
                );
                self.send_ack(ack);
                self.linger(now, Some(format!("status {status}")));
            }
            // A retransmitted final response: the service did not get our ACK yet.
            _ => {
                if let Some(ack) = &self.ack {
                    self.out.push(Output::Send(ack.clone()));
                }
            }
        }
    }

    fn on_bye_response(&mut self, status: u16, now: Instant) {
        if !matches!(self.state, State::Byeing { .. }) || status < 200 {
            return;
        }
        self.ended_at = Some(now);
        let failure = (status >= 300).then(|| format!("bye status {status}"));
        self.linger(now, failure);
    }

    fn on_request(&mut self, method: &str, msg: &Message<'_>, now: Instant) {
        match method {
            "ACK" | "CANCEL" => {}
            "BYE" => {
                self.out.push(Output::Send(response(msg, 200, "OK")));
                match (&self.state, self.flow) {
                    (State::Up { .. }, FlowKind::Reset) => {
                        self.ended_at = Some(now);
                        self.linger(now, None);
                    }
                    (State::Up { .. } | State::Byeing { .. }, FlowKind::Answer) => {
                        self.ended_at = Some(now);
                        self.linger(now, Some("bye from service".into()));
                    }
                    _ => {}
                }
            }
            // A re-INVITE would need a new answer; the generator keeps its one stream.
            "INVITE" => self
                .out
                .push(Output::Send(response(msg, 488, "Not Acceptable Here"))),
            _ => self.out.push(Output::Send(response(msg, 200, "OK"))),
        }
    }

    fn send_ack(&mut self, ack: String) {
        self.out.push(Output::Send(ack.clone()));
        self.ack = Some(ack);
    }

    fn send_bye(&mut self, now: Instant) {
        let uri = self.in_dialog_uri();
        let branch = self.next_branch();
        let bye = self.leg.request(
            "BYE",
            &uri,
            INVITE_CSEQ + 1,
            &branch,
            &self.route_set,
            self.to_tag.as_deref(),
            None,
        );
        self.out.push(Output::Send(bye.clone()));
        self.state = State::Byeing {
            bye,
            next_retransmit: now + T1,
            interval: T1,
            deadline: now + TRANSACTION_TIMEOUT,
        };
    }

    fn linger(&mut self, now: Instant, failure: Option<String>) {
        self.state = State::Lingering {
            until: now + LINGER,
            failure,
        };
    }

    fn end_now(&mut self, failure: Option<String>) {
        self.out.push(Output::Ended(failure));
        self.state = State::Done;
    }

    fn in_dialog_uri(&self) -> String {
        self.remote_target
            .clone()
            .unwrap_or_else(|| self.leg.request_uri.clone())
    }

    fn next_branch(&mut self) -> String {
        self.branches += 1;
        format!("z9hG4bK-{}-{}", self.leg.call_id, self.branches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Codec;

    const SDP: &str = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 20000 RTP/AVP 0 101\r\n";

    fn leg() -> Leg {
        Leg::new(
            "load-1".into(),
            "t1",
            "0913000001",
            "127.0.0.1:5070".parse().unwrap(),
            "127.0.0.1:5090".parse().unwrap(),
        )
    }

    fn sent(call: &mut Call) -> Vec<String> {
        call.outputs()
            .filter_map(|o| match o {
                Output::Send(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn response_text(status: u16, cseq: &str, body: &str) -> String {
        format!(
            "SIP/2.0 {status} X\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=b\r\n\
             From: <sip:0913000001@127.0.0.1>;tag=t1\r\nTo: <sip:19009068@127.0.0.1:5090>;tag=s1\r\n\
             Call-ID: load-1\r\nCSeq: {cseq}\r\nContact: <sip:h@127.0.0.1:5090>\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn feed(call: &mut Call, text: &str, now: Instant) {
        call.handle(&Message::parse(text.as_bytes()).unwrap(), now);
    }

    #[test]
    fn invite_is_retransmitted_until_a_provisional_then_times_out() {
        let t0 = Instant::now();
        let mut call = Call::start(leg(), FlowKind::Reset, Duration::ZERO, "v=0\r\n", t0);
        assert!(sent(&mut call)[0].starts_with("INVITE "));
        call.poll(t0 + Duration::from_millis(499));
        assert!(sent(&mut call).is_empty());
        call.poll(t0 + Duration::from_millis(500));
        assert_eq!(sent(&mut call).len(), 1);
        // Next one after 1 s more.
        call.poll(t0 + Duration::from_millis(1400));
        assert!(sent(&mut call).is_empty());
        call.poll(t0 + Duration::from_millis(1500));
        assert_eq!(sent(&mut call).len(), 1);
        feed(
            &mut call,
            &response_text(100, "1 INVITE", ""),
            t0 + Duration::from_secs(2),
        );
        call.poll(t0 + Duration::from_secs(10));
        assert!(sent(&mut call).is_empty());
        call.poll(t0 + Duration::from_secs(32));
        let out: Vec<Output> = call.outputs().collect();
        assert_eq!(out, [Output::Ended(Some("invite timeout".into()))]);
        assert!(call.is_done());
    }

    #[test]
    fn a_2xx_is_acked_every_time_and_the_service_s_bye_ends_the_call() {
        let t0 = Instant::now();
        let mut call = Call::start(leg(), FlowKind::Reset, Duration::ZERO, "v=0\r\n", t0);
        assert!(call.is_up());
        call.outputs().for_each(drop);
        let ok = response_text(200, "1 INVITE", SDP);
        let t1 = t0 + Duration::from_millis(30);
        feed(&mut call, &ok, t1);
        let out: Vec<Output> = call.outputs().collect();
        let Output::Send(ack) = &out[0] else {
            panic!("{out:?}")
        };
        let parsed = Message::parse(ack.as_bytes()).unwrap();
        assert!(ack.starts_with("ACK sip:h@127.0.0.1:5090 SIP/2.0"));
        assert_eq!(
            (parsed.cseq(), parsed.to_tag()),
            (Some((1, "ACK")), Some("s1"))
        );
        assert!(
            !ack.contains("branch=z9hG4bK-load-1-0;"),
            "the 2xx ACK has its own branch"
        );
        let Output::Answered(answer) = out[1] else {
            panic!("{out:?}")
        };
        assert_eq!(answer.codec, Codec::Pcmu);
        assert_eq!(call.answered_at, Some(t1));
        // The service retransmits the 200: the same ACK again.
        feed(&mut call, &ok, t1 + Duration::from_millis(500));
        assert_eq!(sent(&mut call), std::slice::from_ref(ack));
        let bye = "BYE sip:load@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5090;branch=s\r\n\
                   From: <sip:19009068@127.0.0.1:5090>;tag=s1\r\nTo: <sip:0913000001@127.0.0.1>;tag=t1\r\n\
                   Call-ID: load-1\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n";
        let t2 = t1 + Duration::from_secs(20);
        feed(&mut call, bye, t2);
        assert!(sent(&mut call)[0].starts_with("SIP/2.0 200 OK"));
        assert_eq!(call.ended_at, Some(t2));
        assert!(!call.is_up(), "an ended call no longer counts as up");
        call.poll(t2 + Duration::from_millis(100));
        assert!(call.outputs().next().is_none(), "lingers for late packets");
        call.poll(t2 + LINGER);
        assert_eq!(call.outputs().collect::<Vec<_>>(), [Output::Ended(None)]);
    }

    #[test]
    fn through_a_record_routing_proxy_the_ack_and_bye_carry_the_route_set() {
        let t0 = Instant::now();
        let mut call = Call::start(leg(), FlowKind::Answer, Duration::ZERO, "v=0\r\n", t0);
        call.outputs().for_each(drop);
        let ok = response_text(200, "1 INVITE", SDP).replacen(
            "Contact:",
            "Record-Route: <sip:10.0.0.10:5060;lr>\r\nRecord-Route: <sip:10.0.0.9;lr>\r\nContact:",
            1,
        );
        feed(&mut call, &ok, t0);
        let routes = |request: &str| -> Vec<String> {
            let m = Message::parse(request.as_bytes()).unwrap();
            m.headers("Route").map(str::to_owned).collect()
        };
        let ack = sent(&mut call).remove(0);
        assert!(ack.starts_with("ACK sip:h@127.0.0.1:5090 SIP/2.0"), "{ack}");
        // The UAC's route set is the Record-Route reversed (RFC 3261 §12.1.2).
        assert_eq!(
            routes(&ack),
            ["<sip:10.0.0.9;lr>", "<sip:10.0.0.10:5060;lr>"]
        );
        call.poll(t0);
        let bye = sent(&mut call).remove(0);
        assert!(bye.starts_with("BYE sip:h@127.0.0.1:5090 SIP/2.0"), "{bye}");
        assert_eq!(routes(&bye), routes(&ack));
        // Without a proxy there is no Route at all (the other tests' 200 OK).
        let mut direct = Call::start(leg(), FlowKind::Reset, Duration::ZERO, "v=0\r\n", t0);
        direct.outputs().for_each(drop);
        feed(&mut direct, &response_text(200, "1 INVITE", SDP), t0);
        assert!(routes(&sent(&mut direct)[0]).is_empty());
    }

    #[test]
    fn a_failure_is_acked_on_the_invite_branch() {
        let t0 = Instant::now();
        let mut call = Call::start(leg(), FlowKind::Reset, Duration::ZERO, "v=0\r\n", t0);
        call.outputs().for_each(drop);
        feed(&mut call, &response_text(503, "1 INVITE", ""), t0);
        let acks = sent(&mut call);
        assert!(acks[0].contains("branch=z9hG4bK-load-1-0;"));
        call.poll(t0 + LINGER);
        assert_eq!(
            call.outputs().collect::<Vec<_>>(),
            [Output::Ended(Some("status 503".into()))]
        );
    }

    #[test]
    fn the_answer_flow_holds_then_hangs_up() {
        let t0 = Instant::now();
        let hold = Duration::from_millis(300);
        let mut call = Call::start(leg(), FlowKind::Answer, hold, "v=0\r\n", t0);
        call.outputs().for_each(drop);
        feed(&mut call, &response_text(200, "1 INVITE", SDP), t0);
        call.outputs().for_each(drop);
        call.poll(t0 + Duration::from_millis(299));
        assert!(sent(&mut call).is_empty());
        call.poll(t0 + hold);
        let bye = sent(&mut call);
        assert!(
            bye[0].starts_with("BYE sip:h@127.0.0.1:5090 SIP/2.0"),
            "{bye:?}"
        );
        assert!(bye[0].contains("CSeq: 2 BYE"));
        // Unanswered: retransmitted after T1.
        call.poll(t0 + hold + T1);
        assert_eq!(sent(&mut call).len(), 1);
        feed(
            &mut call,
            &response_text(200, "2 BYE", ""),
            t0 + Duration::from_secs(1),
        );
        call.poll(t0 + Duration::from_secs(2));
        assert_eq!(call.outputs().collect::<Vec<_>>(), [Output::Ended(None)]);
        assert_eq!(call.ended_at, Some(t0 + Duration::from_secs(1)));
    }
}
