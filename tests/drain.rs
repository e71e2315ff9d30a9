//! Graceful drain (issue 9, item 5), with a whole hotline in-process: once draining, a new
//! INVITE and a dispatcher's OPTIONS get 503 with Retry-After, while a call in progress goes on
//! to its natural end; at the deadline (or a second signal) the calls left get a BYE and their
//! CDRs are closed, billed.

mod support;

use std::time::Duration;

use hotline::admission::Admission;
use hotline::domain::{Clip, Outcome, Prompt};
use hotline::media::Codec;
use hotline::server::{DrainEnd, DrainReport};
use support::hotline_harness::{DTMF_PT, WAIT, closed_cdr, start};
use support::sip_uac::{SipMsg, Uac, sdp_offer};
use tokio::time::{Instant, sleep, timeout};

const CODE: &str = "0123456789";
const PHONE: &str = "0912345678";

/// The final response to an out-of-dialog OPTIONS (what Kamailio's dispatcher probes with).
async fn options(uac: &mut Uac) -> SipMsg {
    uac.options().await;
    uac.final_response("OPTIONS", WAIT).await
}

/// The final response to a new INVITE from a new caller (a refusal is ACKed).
async fn new_invite(server: std::net::SocketAddr) -> SipMsg {
    let mut uac = Uac::new(server).await;
    let offer = sdp_offer(
        40_000,
        "0 101",
        &["0 PCMU/8000", "101 telephone-event/8000"],
    );
    uac.invite(PHONE, None, &[], &offer).await;
    let answer = uac.final_response("INVITE", WAIT).await;
    if answer.status().is_some_and(|s| s >= 300) {
        uac.ack_failure().await;
    }
    answer
}

/// A 503 that tells the dispatcher when to come back.
fn assert_refused(answer: &SipMsg, retry_after: std::ops::RangeInclusive<u64>) {
    assert_eq!(answer.status(), Some(503), "{}", answer.head());
    let seconds: u64 = answer
        .header("Retry-After")
        .unwrap_or_else(|| panic!("no Retry-After: {}", answer.head()))
        .trim()
        .parse()
        .expect("Retry-After is whole seconds");
    assert!(retry_after.contains(&seconds), "Retry-After {seconds}");
}

async fn wait_for_admission(gate: &hotline::admission::AdmissionGate, want: fn(Admission) -> bool) {
    let until = Instant::now() + WAIT;
    while !want(gate.admission()) {
        assert!(
            Instant::now() < until,
            "admission still {:?}",
            gate.admission()
        );
        sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn while_draining_a_call_in_progress_ends_normally_and_new_calls_and_probes_get_503() {
    let hotline = start(|config| config.server.drain_seconds = 300).await;
    hotline.add_account(CODE, PHONE, None).await;
    let sip = hotline.server.sip_addr();
    let gate = hotline.server.admission();
    let mut probe = Uac::new(sip).await;
    assert_eq!(options(&mut probe).await.status(), Some(200));

    let mut call = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    call.wait_hearing(Clip::Prompt(Prompt::Welcome)).await;
    let server = hotline.server;
    let draining = tokio::spawn(server.drain(std::future::pending()));
    wait_for_admission(&gate, |a| matches!(a, Admission::Draining { .. })).await;

    // The dispatcher's probe and a new caller are turned away, told to come back within a minute.
    assert_refused(&options(&mut probe).await, 1..=60);
    assert_refused(&new_invite(sip).await, 1..=60);

    // The call in progress goes on: its keys (RFC 4733 and an in-dialog INFO) are taken, the
    // database resets the password and the caller hears it.
    call.press_by_info("*").await;
    call.wait_hearing(Clip::Prompt(Prompt::EnterCode)).await;
    call.press(&format!("{CODE}#")).await;
    let password = call.wait_first_reading().await;
    assert!(!draining.is_finished(), "the drain ended with a call up");
    call.hang_up().await;

    let report = timeout(WAIT, draining)
        .await
        .expect("the drain ends once the last call has")
        .expect("drain task");
    assert_eq!(
        report,
        DrainReport {
            calls_at_start: 1,
            hung_up: 0,
            ended_by: DrainEnd::CallsEnded
        }
    );
    let cdr = closed_cdr(&hotline.store, &call.call_id()).await;
    assert_eq!(cdr.outcome, Some(Outcome::Reset));
    assert_eq!(cdr.billed_minutes, Some(1));
    let code = hotline::domain::InsuranceCode::parse(CODE).unwrap();
    let spoken = hotline::domain::Password::from_digits(&password).unwrap();
    assert!(
        hotline
            .store
            .check_password(&hotline.hasher, &code, &spoken)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_call_still_up_at_the_drain_deadline_gets_a_bye_and_is_billed() {
    let hotline = start(|config| config.server.drain_seconds = 1).await;
    let mut call = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    call.wait_hearing(Clip::Prompt(Prompt::Welcome)).await;
    let server = hotline.server;
    let began = Instant::now();
    let draining = tokio::spawn(server.drain(std::future::pending()));

    call.wait_for_bye().await;
    assert!(
        began.elapsed() >= Duration::from_secs(1),
        "BYE before the deadline"
    );
    let report = timeout(WAIT, draining).await.unwrap().unwrap();
    assert_eq!(
        report,
        DrainReport {
            calls_at_start: 1,
            hung_up: 1,
            ended_by: DrainEnd::Deadline
        }
    );
    let cdr = closed_cdr(&hotline.store, &call.call_id()).await;
    assert_eq!(cdr.outcome, Some(Outcome::Interrupted));
    assert_eq!(cdr.billed_minutes, Some(1));
    assert_eq!(cdr.amount, Some(1000));
    assert!(cdr.duration_ms.unwrap() >= 1000, "{cdr:?}");
}

/// A second SIGTERM during the drain: hang up now, the same way.
#[tokio::test]
async fn told_to_hurry_the_drain_hangs_up_at_once_and_still_bills() {
    let hotline = start(|config| config.server.drain_seconds = 300).await;
    let mut call = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    call.wait_hearing(Clip::Prompt(Prompt::Welcome)).await;
    let (hurry, hurried) = tokio::sync::oneshot::channel::<()>();
    let server = hotline.server;
    let draining = tokio::spawn(server.drain(async move {
        let _ = hurried.await;
    }));
    sleep(Duration::from_millis(200)).await;
    assert!(!draining.is_finished());
    hurry.send(()).unwrap();

    call.wait_for_bye().await;
    let report = timeout(WAIT, draining).await.unwrap().unwrap();
    assert_eq!(report.ended_by, DrainEnd::Hurried);
    assert_eq!(report.hung_up, 1);
    let cdr = closed_cdr(&hotline.store, &call.call_id()).await;
    assert_eq!(cdr.outcome, Some(Outcome::Interrupted));
    assert_eq!(cdr.billed_minutes, Some(1));
}

/// `server.drain_seconds = 0` hangs up at once, and with no call up a drain ends at once too.
#[tokio::test]
async fn a_drain_with_no_calls_ends_at_once() {
    let hotline = start(|config| config.server.drain_seconds = 0).await;
    let report = timeout(WAIT, hotline.server.drain(std::future::pending()))
        .await
        .unwrap();
    assert_eq!(report.calls_at_start, 0);
    assert_eq!(report.hung_up, 0);
}
