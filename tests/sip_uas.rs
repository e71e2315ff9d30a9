//! The SIP UAS on the wire: a real `SipServer` on loopback driven by the raw test UAC.

mod support;

use std::time::Duration;

use hotline::domain::Digit;
use hotline::media::Codec;
use hotline::sip::{CallEvent, IncomingCall, SipConfig, SipServer};
use support::sip_uac::{SipMsg, Uac, sdp_offer};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(5);

fn config(t1: Duration) -> SipConfig {
    SipConfig {
        trusted_peers: vec!["127.0.0.1".parse().unwrap()],
        t1,
        ..SipConfig::new("127.0.0.1:0".parse().unwrap())
    }
}

async fn server() -> (SipServer, mpsc::Receiver<IncomingCall>) {
    SipServer::start(config(Duration::from_millis(500)))
        .await
        .expect("server starts")
}

async fn next_call(calls: &mut mpsc::Receiver<IncomingCall>) -> IncomingCall {
    tokio::time::timeout(WAIT, calls.recv())
        .await
        .expect("a call within 5 s")
        .expect("server running")
}

async fn next_event(call: &mut IncomingCall) -> Option<CallEvent> {
    tokio::time::timeout(WAIT, call.events.recv())
        .await
        .expect("an event within 5 s")
}

/// PCMA preferred, telephone-event on an unusual payload type.
fn pcma_offer(uac: &Uac) -> String {
    let _ = uac;
    sdp_offer(41000, "8 0 96", &["96 telephone-event/8000"])
}

/// INVITE → 100 → call handed out → answer → 200 with SDP → ACK → Acked.
async fn established(
    server: &SipServer,
    calls: &mut mpsc::Receiver<IncomingCall>,
) -> (Uac, IncomingCall, SipMsg) {
    let mut uac = Uac::new(server.local_addr()).await;
    let offer = pcma_offer(&uac);
    uac.invite("0912345678", None, &[], &offer).await;
    uac.wait_response(100, "INVITE", WAIT).await;
    let mut call = next_call(calls).await;
    call.control.answer(30_000).await.expect("answer");
    let ok = uac.wait_response(200, "INVITE", WAIT).await;
    uac.ack().await;
    assert_eq!(next_event(&mut call).await, Some(CallEvent::Acked));
    (uac, call, ok)
}

async fn eventually_no_dialogs(server: &SipServer) {
    for _ in 0..100 {
        if server.open_dialogs() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} dialogs left in the stack", server.open_dialogs());
}

#[tokio::test]
async fn invite_is_answered_with_our_sdp_and_the_callers_codec_order() {
    let (server, mut calls) = server().await;
    let (mut uac, mut call, ok) = established(&server, &mut calls).await;

    assert_eq!(
        call.info.caller.number.as_ref().map(|n| n.as_str()),
        Some("+84912345678")
    );
    assert_eq!(call.info.called, "19009068");
    assert_eq!(call.info.media.codec, Codec::Pcma);
    assert_eq!(call.info.media.telephone_event_pt, Some(96));
    assert_eq!(
        call.info.media.remote_rtp,
        "127.0.0.1:41000".parse().unwrap()
    );
    assert_eq!(call.info.call_id.as_str(), uac.call_id);

    assert_eq!(
        ok.header("Content-Type").as_deref(),
        Some("application/sdp")
    );
    let body = ok.body();
    assert!(body.contains("m=audio 30000 RTP/AVP 8 96\r\n"), "{body}");
    assert!(
        body.contains("a=rtpmap:96 telephone-event/8000\r\n"),
        "{body}"
    );
    assert!(body.contains("c=IN IP4 127.0.0.1\r\n"), "{body}");
    let contact = ok.header("Contact").expect("a Contact in the 200");
    assert!(
        contact.contains(&server.local_addr().to_string()),
        "{contact}"
    );

    uac.bye().await;
    uac.wait_response(200, "BYE", WAIT).await;
    assert_eq!(next_event(&mut call).await, Some(CallEvent::HungUp));
    assert_eq!(
        next_event(&mut call).await,
        None,
        "events end with the call"
    );
    eventually_no_dialogs(&server).await;
    server.shutdown();
}

#[tokio::test]
async fn our_hangup_sends_bye() {
    let (server, mut calls) = server().await;
    let (mut uac, mut call, _) = established(&server, &mut calls).await;
    call.control.hangup().await.expect("hangup");
    let bye = uac.wait_request("BYE", WAIT).await;
    assert_eq!(bye.header("Call-ID").as_deref(), Some(uac.call_id.as_str()));
    assert_eq!(next_event(&mut call).await, None);
    eventually_no_dialogs(&server).await;
}

#[tokio::test]
async fn cancel_before_answer_gets_200_and_487() {
    let (server, mut calls) = server().await;
    let mut uac = Uac::new(server.local_addr()).await;
    let offer = pcma_offer(&uac);
    uac.invite("0912345678", None, &[], &offer).await;
    uac.wait_response(100, "INVITE", WAIT).await;
    let mut call = next_call(&mut calls).await;
    call.control.ring().await.expect("ring");
    uac.wait_response(180, "INVITE", WAIT).await;

    uac.cancel().await;
    uac.wait_response(200, "CANCEL", WAIT).await;
    uac.wait_response(487, "INVITE", WAIT).await;
    uac.ack_failure().await;
    assert_eq!(next_event(&mut call).await, Some(CallEvent::Cancelled));
    assert!(
        call.control.answer(30_000).await.is_err(),
        "a cancelled call cannot be answered"
    );
    eventually_no_dialogs(&server).await;
}

#[tokio::test]
async fn unacknowledged_200_is_retransmitted_then_the_call_is_ended_with_bye() {
    let t1 = Duration::from_millis(50);
    let (server, mut calls) = SipServer::start(config(t1)).await.expect("server");
    let mut uac = Uac::new(server.local_addr()).await;
    let offer = pcma_offer(&uac);
    uac.invite("0912345678", None, &[], &offer).await;
    let mut call = next_call(&mut calls).await;
    call.control.answer(30_000).await.expect("answer");

    // Never ACK. 64·T1 = 3.2 s; the BYE must come after it, with 200s repeated until then.
    let bye = uac.wait_request("BYE", Duration::from_secs(20)).await;
    let oks: Vec<_> = uac
        .received
        .iter()
        .filter(|m| m.status() == Some(200) && m.cseq_method() == "INVITE")
        .collect();
    assert!(oks.len() >= 6, "200 OK sent {} times", oks.len());
    let first = oks.first().expect("a 200").at;
    assert!(
        bye.at - first >= t1 * 40,
        "BYE after {:?}, before 64·T1",
        bye.at - first
    );
    let gaps: Vec<Duration> = oks.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(
        gaps.last() > gaps.first(),
        "retransmission intervals grow: {gaps:?}"
    );
    assert_eq!(next_event(&mut call).await, Some(CallEvent::AckTimeout));
    assert_eq!(next_event(&mut call).await, None);
    eventually_no_dialogs(&server).await;
}

#[tokio::test]
async fn options_is_answered_in_and_out_of_dialog() {
    let (server, mut calls) = server().await;
    let mut probe = Uac::new(server.local_addr()).await;
    probe.options().await;
    let ok = probe.wait_response(200, "OPTIONS", WAIT).await;
    assert!(
        ok.header("Allow")
            .is_some_and(|a| a.contains("INVITE") && a.contains("BYE")),
        "{}",
        ok.raw
    );
    assert_eq!(ok.header("Accept").as_deref(), Some("application/sdp"));

    let (mut uac, _call, _) = established(&server, &mut calls).await;
    uac.in_dialog("OPTIONS", "", "").await;
    uac.wait_response(200, "OPTIONS", WAIT).await;
}

#[tokio::test]
async fn other_methods_are_refused_properly() {
    let (server, _calls) = server().await;
    let mut uac = Uac::new(server.local_addr()).await;
    uac.out_of_dialog("REGISTER").await;
    let refused = uac.wait_response(405, "REGISTER", WAIT).await;
    assert!(refused.header("Allow").is_some());
    uac.out_of_dialog("MESSAGE").await;
    uac.wait_response(405, "MESSAGE", WAIT).await;
    uac.out_of_dialog("FROBNICATE").await;
    let unknown = uac.wait_response(501, "FROBNICATE", WAIT).await;
    assert!(unknown.header("Allow").is_some());
    // BYE for a dialog that does not exist.
    uac.to_tag = Some("nobody".into());
    uac.bye().await;
    uac.wait_response(481, "BYE", WAIT).await;
    uac.reinvite(&sdp_offer(41000, "0", &[])).await;
    uac.wait_response(481, "INVITE", WAIT).await;
}

#[tokio::test]
async fn no_common_codec_gets_488_and_no_call() {
    let (server, mut calls) = server().await;
    let mut uac = Uac::new(server.local_addr()).await;
    uac.invite("0912345678", None, &[], &sdp_offer(41000, "9 18", &[]))
        .await;
    let refused = uac.wait_response(488, "INVITE", WAIT).await;
    assert!(
        refused
            .header("Warning")
            .is_some_and(|w| w.starts_with("305")),
        "{}",
        refused.raw
    );
    uac.ack_failure().await;
    assert!(
        calls.try_recv().is_err(),
        "a refused INVITE is not handed out"
    );

    let mut no_sdp = Uac::new(server.local_addr()).await;
    no_sdp.invite("0912345678", None, &[], "").await;
    no_sdp.wait_response(488, "INVITE", WAIT).await;
    let mut garbage = Uac::new(server.local_addr()).await;
    garbage
        .invite("0912345678", None, &[], "this is not sdp")
        .await;
    garbage.wait_response(400, "INVITE", WAIT).await;
    assert!(calls.try_recv().is_err());
}

#[tokio::test]
async fn trusted_pai_and_privacy_decide_the_caller() {
    let (server, mut calls) = server().await;
    let mut uac = Uac::new(server.local_addr()).await;
    let offer = pcma_offer(&uac);
    uac.invite(
        "anonymous",
        Some("<sip:0987654321@trunk>, <tel:+84-98-765-4321>"),
        &[],
        &offer,
    )
    .await;
    let call = next_call(&mut calls).await;
    assert_eq!(
        call.info.caller.number.as_ref().map(|n| n.as_str()),
        Some("+84987654321")
    );
    assert_eq!(call.info.caller.raw, "tel:+84-98-765-4321");

    let mut hidden = Uac::new(server.local_addr()).await;
    hidden
        .invite(
            "0912345678",
            Some("<tel:+84912345678>"),
            &["Privacy: id"],
            &offer,
        )
        .await;
    let call = next_call(&mut calls).await;
    assert_eq!(call.info.caller.number, None);
}

#[tokio::test]
async fn info_and_reinvite_inside_the_call() {
    let (server, mut calls) = server().await;
    let (mut uac, mut call, ok) = established(&server, &mut calls).await;
    uac.in_dialog(
        "INFO",
        "application/dtmf-relay",
        "Signal=5\r\nDuration=160\r\n",
    )
    .await;
    uac.wait_response(200, "INFO", WAIT).await;
    assert_eq!(
        next_event(&mut call).await,
        Some(CallEvent::Dtmf(Digit::D5))
    );
    uac.in_dialog("INFO", "application/dtmf", "#").await;
    uac.wait_response(200, "INFO", WAIT).await;
    assert_eq!(
        next_event(&mut call).await,
        Some(CallEvent::Dtmf(Digit::Pound))
    );

    // A DTMF body without a key: 400 and no digit.
    uac.in_dialog("INFO", "application/dtmf-relay", "Signal=x\r\n")
        .await;
    uac.wait_response(400, "INFO", WAIT).await;
    // Not DTMF at all (a video phone asking for a key frame): 415 saying what we take.
    uac.in_dialog("INFO", "application/media_control+xml", "<media_control/>")
        .await;
    let refused = uac.wait_response(415, "INFO", WAIT).await;
    assert_eq!(
        refused.header("Accept").as_deref(),
        Some("application/dtmf-relay, application/dtmf")
    );
    assert!(
        call.events.try_recv().is_err(),
        "refused INFOs carry no digit"
    );

    let offer = pcma_offer(&uac);
    uac.reinvite(&offer).await;
    let refreshed = uac.wait_response(200, "INVITE", WAIT).await;
    assert_eq!(
        refreshed.body(),
        ok.body(),
        "a session refresh keeps the same answer"
    );
    uac.ack().await;
    uac.bye().await;
    uac.wait_response(200, "BYE", WAIT).await;
    assert_eq!(next_event(&mut call).await, Some(CallEvent::HungUp));
}

#[tokio::test]
async fn malformed_datagrams_get_400_or_are_dropped_and_the_server_lives_on() {
    let (server, _calls) = server().await;
    let mut uac = Uac::new(server.local_addr()).await;
    let local = uac.local_addr();
    let good = |call_id: &str| {
        format!(
            "OPTIONS sip:h@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{call_id}\r\n\
             From: <sip:qa@127.0.0.1>;tag=a\r\nTo: <sip:h@127.0.0.1>\r\nCall-ID: {call_id}\r\n\
             CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    // Each is answered with 400 (or 505) — the request can be answered.
    let answered: Vec<(Vec<u8>, u16)> = vec![
        (good("m1").replace("Call-ID: m1\r\n", "").into_bytes(), 400),
        (
            good("m2")
                .replace("Content-Length: 0", "Content-Length: 999")
                .into_bytes(),
            400,
        ),
        (
            good("m3")
                .replace("CSeq: 1 OPTIONS", "CSeq: x")
                .into_bytes(),
            400,
        ),
        (
            good("m4")
                .replacen("SIP/2.0\r\n", "SIP/7.0\r\n", 1)
                .into_bytes(),
            505,
        ),
        (good("m5").as_bytes()[..good("m5").len() - 30].to_vec(), 400),
    ];
    for (packet, status) in &answered {
        uac.send_raw(packet).await;
        let reply = uac
            .next(WAIT)
            .await
            .expect("an answer to a malformed request");
        assert_eq!(
            reply.status(),
            Some(*status),
            "{}",
            String::from_utf8_lossy(packet)
        );
    }
    // Not answerable, but must not hurt.
    let mut latin1 = good("m6")
        .replace("From: <", "From: \"Nguy\u{1}n\" <")
        .into_bytes();
    if let Some(at) = latin1.iter().position(|b| *b == 1) {
        latin1[at] = 0xEA;
    }
    for packet in [
        b"\x00\xff garbage".to_vec(),
        b"INVITE\r\n\r\n".to_vec(),
        vec![b'A'; 20_000],
    ] {
        uac.send_raw(&packet).await;
    }
    // A Latin-1 display name is tolerated: the OPTIONS is answered normally.
    uac.send_raw(&latin1).await;
    uac.wait_response(200, "OPTIONS", WAIT).await;
    uac.options().await;
    uac.wait_response(200, "OPTIONS", WAIT).await;
}

#[tokio::test]
async fn a_call_the_application_drops_is_refused_not_leaked() {
    let (server, mut calls) = server().await;
    let mut uac = Uac::new(server.local_addr()).await;
    let offer = pcma_offer(&uac);
    uac.invite("0912345678", None, &[], &offer).await;
    drop(next_call(&mut calls).await);
    uac.wait_response(500, "INVITE", WAIT).await;
    uac.ack_failure().await;
    eventually_no_dialogs(&server).await;
}
