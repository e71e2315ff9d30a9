//! Real calls over loopback against a whole hotline, seen from the billing side: the CDR of a
//! caller who hangs up, of a call cancelled before answer, of a caller who keys nothing; and the
//! RTP port each call borrows. Issue 2 point 25 (c) and (d).

mod support;

use std::time::Duration;

use hotline::domain::{Clip, Outcome, Prompt};
use hotline::media::Codec;
use support::hotline_harness::{DTMF_PT, WAIT, start};
use support::sip_uac::{Uac, sdp_offer};
use tokio::time::Instant;

const CODE: &str = "0123456789";
const PHONE: &str = "0912345678";

#[tokio::test]
async fn a_caller_who_hangs_up_mid_prompt_is_billed_one_minute_as_abandoned() {
    let hotline = start(|_| {}).await;
    hotline.add_account(CODE, PHONE, None).await;

    let mut call = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    call.wait_hearing(Clip::Prompt(Prompt::Welcome)).await;
    let hanging_up = Instant::now();
    call.hang_up().await;
    let cdr = hotline.closed_cdr(&call).await;
    let closed = Instant::now();

    assert_eq!(cdr.outcome, Some(Outcome::Abandoned));
    assert_eq!(cdr.billed_minutes, Some(1));
    assert_eq!(cdr.amount, Some(1000));
    assert_eq!(cdr.currency.as_deref(), Some("VND"));
    assert_eq!(cdr.caller.as_deref(), Some("+84912345678"));
    // The call lasted from the 200 OK to our BYE, give or take the clocks' resolution.
    let duration =
        Duration::from_millis(u64::try_from(cdr.duration_ms.expect("duration")).unwrap());
    let at_least = hanging_up.duration_since(call.answered);
    let at_most = closed.duration_since(call.started);
    assert!(
        duration + Duration::from_millis(50) >= at_least && duration <= at_most,
        "duration {duration:?} outside {at_least:?}..={at_most:?}"
    );
    let ended = cdr.ended_at.expect("ended_at");
    assert_eq!(
        (ended - cdr.answered_at).whole_milliseconds(),
        i128::from(cdr.duration_ms.unwrap())
    );
    assert_eq!(hotline.store.ticks(&call.call_id()).await.unwrap(), [1]);
    // Our BYE was answered once, with 200 and nothing else.
    call.uac.collect(Duration::from_millis(300)).await;
    let answers: Vec<&str> = call
        .uac
        .received
        .iter()
        .filter(|m| m.status().is_some() && m.cseq_method() == "BYE")
        .map(|m| m.start_line())
        .collect();
    assert_eq!(answers, ["SIP/2.0 200 OK"]);
}

#[tokio::test]
async fn a_call_cancelled_before_answer_gets_487_and_leaves_no_cdr() {
    let hotline = start(|config| config.sip.answer_delay_ms = 2000).await;
    let mut uac = Uac::new(hotline.server.sip_addr()).await;
    let offer = sdp_offer(
        40_000,
        "0 101",
        &["0 PCMU/8000", "101 telephone-event/8000"],
    );
    let invited = Instant::now();
    uac.invite(PHONE, None, &[], &offer).await;
    uac.wait_response(180, "INVITE", WAIT).await;
    uac.cancel().await;
    uac.wait_response(200, "CANCEL", WAIT).await;
    uac.wait_response(487, "INVITE", WAIT).await;
    uac.ack_failure().await;

    // Past the moment the call would have been answered, nothing more comes…
    let answer_due = invited + Duration::from_millis(2500);
    let later = uac
        .collect(answer_due.saturating_duration_since(Instant::now()))
        .await;
    assert!(
        later
            .iter()
            .all(|m| m.status() != Some(200) || m.cseq_method() != "INVITE"),
        "answered after the CANCEL: {later:?}"
    );
    // …and nothing was billed.
    let call_id = hotline::domain::CallId::new(uac.call_id.clone());
    assert!(hotline.store.cdr(&call_id).await.unwrap().is_none());
    assert!(hotline.store.ticks(&call_id).await.unwrap().is_empty());
    let mut csv = Vec::new();
    let rows = hotline.store.export_cdrs(&mut csv).await.unwrap();
    assert_eq!(rows, 0, "{}", String::from_utf8_lossy(&csv));
}

/// Nothing keyed: after the question, the first-digit timeout; with one try allowed, goodbye.
#[tokio::test]
async fn a_caller_who_keys_nothing_ends_with_no_input() {
    let hotline = start(|config| {
        config.ivr.first_digit_timeout_ms = 1000;
        config.ivr.code_tries = 1;
    })
    .await;
    hotline.add_account(CODE, PHONE, None).await;

    let mut call = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    // `*` skips the welcome (it asks for the code afresh) without keying anything.
    call.barge_in("*").await;
    call.wait_heard(Clip::Prompt(Prompt::EnterCode)).await;
    let asked = Instant::now();
    call.wait_for_bye().await;

    assert!(asked.elapsed() >= Duration::from_millis(1000));
    assert_eq!(
        call.heard(),
        [
            Clip::Prompt(Prompt::EnterCode),
            Clip::Prompt(Prompt::Goodbye)
        ]
    );
    let cdr = hotline.closed_cdr(&call).await;
    assert_eq!(cdr.outcome, Some(Outcome::NoInput));
    assert_eq!(cdr.billed_minutes, Some(1));
}

/// With one RTP port in the range, calls one after the other all get it: each call gives it
/// back when it ends.
#[tokio::test]
async fn the_rtp_port_is_released_when_a_call_ends() {
    let hotline = start(|config| {
        let even = config.media.rtp_port_min + config.media.rtp_port_min % 2;
        config.media.rtp_port_min = even;
        config.media.rtp_port_max = even + 1;
    })
    .await;
    let port = hotline.config.media.rtp_port_min;

    for _ in 0..3 {
        let mut call = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
        assert_eq!(call.answer.port, port);
        call.wait_hearing(Clip::Prompt(Prompt::Welcome)).await;
        call.hang_up().await;
        let cdr = hotline.closed_cdr(&call).await;
        assert_eq!(cdr.outcome, Some(Outcome::Abandoned));
    }
}
