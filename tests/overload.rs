//! Overload answered, not suffered (issue 10, item 3), with a whole hotline in-process: beyond
//! `sip.max_calls` calls in progress, beyond `sip.max_new_calls_per_second`, and when no RTP port
//! is free, a new INVITE gets `503 Service Unavailable` with `Retry-After`; the calls in progress
//! go on, and a slot given back by a call that ended, whichever way, lets the next one in.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use hotline::admission::AdmissionGate;
use hotline::domain::{Clip, Prompt};
use hotline::media::Codec;
use support::hotline_harness::{DTMF_PT, WAIT, start};
use support::sip_uac::{SipMsg, Uac, sdp_offer};
use tokio::time::{Instant, sleep};

const PHONE: &str = "0912345678";

fn offer() -> String {
    sdp_offer(
        40_000,
        "0 101",
        &["0 PCMU/8000", "101 telephone-event/8000"],
    )
}

/// Sends a new INVITE from a new caller and returns its final answer; a refusal is ACKed, and
/// an answered call is ACKed and hung up at once.
async fn new_invite(server: SocketAddr) -> SipMsg {
    let mut uac = Uac::new(server).await;
    uac.invite(PHONE, None, &[], &offer()).await;
    finish(&mut uac).await
}

/// The final answer to the INVITE `uac` sent; ACKed, and an answered call hung up.
async fn finish(uac: &mut Uac) -> SipMsg {
    let answer = uac.final_response("INVITE", WAIT).await;
    match answer.status() {
        Some(200..=299) => {
            uac.ack().await;
            uac.bye().await;
            uac.wait_response(200, "BYE", WAIT).await;
        }
        _ => uac.ack_failure().await,
    }
    answer
}

/// The `Retry-After` of a 503, in whole seconds; panics if the answer is not such a 503.
fn retry_after(answer: &SipMsg) -> u64 {
    assert_eq!(answer.status(), Some(503), "{}", answer.head());
    answer
        .header("Retry-After")
        .unwrap_or_else(|| panic!("no Retry-After: {}", answer.head()))
        .trim()
        .parse()
        .expect("Retry-After is whole seconds")
}

/// Waits until the node counts `n` calls in progress.
async fn wait_for_calls(gate: &AdmissionGate, n: usize) {
    let until = Instant::now() + WAIT;
    while gate.calls_in_progress() != n {
        assert!(
            Instant::now() < until,
            "{} calls in progress, {n} expected",
            gate.calls_in_progress()
        );
        sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn beyond_max_calls_an_invite_gets_503_with_retry_after_until_a_call_ends() {
    let hotline = start(|config| config.sip.max_calls = 2).await;
    let sip = hotline.server.sip_addr();
    let gate = hotline.server.admission();
    let mut first = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    let second = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    assert_eq!(gate.calls_in_progress(), 2);

    let refused = new_invite(sip).await;
    assert_eq!(retry_after(&refused), 5);
    let warning = refused.header("Warning").unwrap_or_default();
    assert!(warning.contains("sip.max_calls"), "{warning}");

    // The two calls in progress are untouched: the second still hears its prompt.
    second.wait_hearing(Clip::Prompt(Prompt::EnterCode)).await;
    first.hang_up().await;
    wait_for_calls(&gate, 1).await;
    let third = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    assert_eq!(gate.calls_in_progress(), 2);
    drop((second, third));
}

#[tokio::test]
async fn a_burst_beyond_the_rate_gets_some_503s_with_retry_after_and_every_invite_an_answer() {
    const BURST: usize = 20;
    let hotline = start(|config| config.sip.max_new_calls_per_second = 2).await;
    let sip = hotline.server.sip_addr();
    let mut callers = Vec::new();
    for _ in 0..BURST {
        callers.push(Uac::new(sip).await);
    }
    // Every INVITE leaves before the first answer is read, so the burst is as quick as the
    // loopback: far more than 2 a second.
    for uac in &mut callers {
        uac.invite(PHONE, None, &[], &offer()).await;
    }
    let (mut answered, mut refused) = (0, 0);
    for uac in &mut callers {
        let answer = finish(uac).await;
        match answer.status() {
            Some(200) => answered += 1,
            Some(503) => {
                assert!(retry_after(&answer) >= 1, "{}", answer.head());
                refused += 1;
            }
            other => panic!("unexpected answer {other:?}: {}", answer.head()),
        }
    }
    assert_eq!(
        answered + refused,
        BURST,
        "every INVITE gets a final answer"
    );
    assert!(answered >= 1, "the rate lets some calls in");
    assert!(refused >= 1, "a burst beyond the rate is refused in part");
    wait_for_calls(&hotline.server.admission(), 0).await;
}

#[tokio::test]
async fn an_invite_when_no_rtp_port_is_free_gets_503_with_retry_after_and_gives_its_slot_back() {
    // One even port in the range: one call at a time.
    let hotline = start(|config| config.media.rtp_port_max = config.media.rtp_port_min + 1).await;
    let sip = hotline.server.sip_addr();
    let gate = hotline.server.admission();
    let mut call = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;

    let mut uac = Uac::new(sip).await;
    uac.invite(PHONE, None, &[], &offer()).await;
    let refused = finish(&mut uac).await;
    assert_eq!(retry_after(&refused), 5);
    let warning = refused.header("Warning").unwrap_or_default();
    assert!(warning.contains("RTP port"), "{warning}");
    // This refusal is made after the dialog exists (the port is bound once the call is taken):
    // one final answer, To-tagged as RFC 3261 §8.2.6.2 asks, not a second one from the dialog.
    assert!(refused.to_tag().is_some(), "{}", refused.head());
    uac.collect(Duration::from_millis(500)).await;
    assert_eq!(uac.count(503, "INVITE"), 1, "one 503, ACKed");
    assert_eq!(
        uac.received
            .iter()
            .filter(|m| m.status().is_some_and(|s| s >= 200))
            .count(),
        1
    );
    // The refused call no longer counts; the call in progress does.
    wait_for_calls(&gate, 1).await;
    call.wait_hearing(Clip::Prompt(Prompt::EnterCode)).await;

    call.hang_up().await;
    wait_for_calls(&gate, 0).await;
    let next = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    drop(next);
}

#[tokio::test]
async fn a_call_cancelled_while_ringing_gives_its_slot_back() {
    let hotline = start(|config| {
        config.sip.max_calls = 1;
        config.sip.answer_delay_ms = 30_000;
    })
    .await;
    let sip = hotline.server.sip_addr();
    let gate = hotline.server.admission();
    for _ in 0..2 {
        let mut uac = Uac::new(sip).await;
        uac.invite(PHONE, None, &[], &offer()).await;
        uac.wait_response(180, "INVITE", WAIT).await;
        assert_eq!(
            retry_after(&new_invite(sip).await),
            5,
            "the one slot is taken"
        );
        uac.cancel().await;
        assert_eq!(uac.final_response("INVITE", WAIT).await.status(), Some(487));
        uac.ack_failure().await;
        wait_for_calls(&gate, 0).await;
    }
}
