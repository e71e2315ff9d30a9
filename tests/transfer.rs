//! "Press 0 for an agent" over real SIP: the test UAC is the caller's PBX, which receives the
//! REFER, answers it and reports the transfer by NOTIFY (RFC 3515), and the CDR says how it ended.

mod support;

use std::time::Duration;

use hotline::domain::{Clip, Outcome, Prompt};
use hotline::ivr::Entry;
use hotline::media::Codec;
use hotline::sip::TransferTarget;
use support::hotline_harness::{Call, DTMF_PT, Hotline, WAIT, prompts_of, start};
use support::sip_uac::SipMsg;
use tokio::time::Instant;

const AGENTS: &str = "sip:agents@pbx.example";
const PHONE: &str = "0912345678";

async fn hotline_with_agents() -> Hotline {
    start(|config| {
        config.ivr.entry = Entry::Menu;
        config.ivr.operator_uri = Some(TransferTarget::parse(AGENTS).expect("a SIP URI"));
    })
    .await
}

/// Places a call, hears the offer start and presses 0; returns the REFER it brought.
async fn ask_for_an_agent(hotline: &Hotline) -> (Call, SipMsg) {
    let mut call = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    call.wait_hearing(Clip::Prompt(Prompt::OperatorOffer)).await;
    call.press("0").await;
    let refer = call.uac.wait_request("REFER", WAIT).await;
    (call, refer)
}

/// Sends a NOTIFY and checks the answer.
async fn notify(call: &mut Call, event: &str, sipfrag: &str, expected: u16) {
    call.uac.notify(event, "active;expires=60", sipfrag).await;
    call.uac.wait_response(expected, "NOTIFY", WAIT).await;
}

/// The prompts heard to their end: the welcome, the menu (its offer was cut short by 0), then
/// `after`.
fn assert_heard_after_menu(call: &Call, after: &[Prompt]) {
    let heard = prompts_of(&call.heard());
    let mut expected = vec![Prompt::Welcome, Prompt::Menu];
    expected.extend_from_slice(after);
    assert_eq!(heard, expected);
}

/// The caller heard "agents are busy" and goodbye, and was hung up on: `transfer_failed`.
async fn assert_agents_busy_and_goodbye(hotline: &Hotline, call: &mut Call) {
    call.wait_for_bye().await;
    assert_heard_after_menu(call, &[Prompt::AgentsBusy, Prompt::Goodbye]);
    let cdr = hotline.closed_cdr(call).await;
    assert_eq!(cdr.outcome, Some(Outcome::TransferFailed));
}

#[tokio::test]
async fn a_transfer_reported_done_by_notify_ends_our_leg_as_transferred() {
    let hotline = hotline_with_agents().await;
    let (mut call, refer) = ask_for_an_agent(&hotline).await;
    assert_eq!(
        refer.header("Refer-To").as_deref(),
        Some(format!("<{AGENTS}>").as_str())
    );
    let referred_by = refer.header("Referred-By").expect("Referred-By");
    assert!(referred_by.contains("sip:19009068@"), "{referred_by}");
    call.uac.answer_request(&refer, 202).await;

    notify(&mut call, "refer", "SIP/2.0 100 Trying\r\n", 200).await;
    notify(&mut call, "refer", "SIP/2.0 180 Ringing\r\n", 200).await;
    // Provisional news is not success: the call stays up.
    let meanwhile = call.uac.collect(Duration::from_secs(1)).await;
    assert!(
        meanwhile.iter().all(|m| m.method() != Some("BYE")),
        "hung up on a provisional NOTIFY"
    );

    call.uac
        .notify(
            "refer",
            "terminated;reason=noresource",
            "SIP/2.0 200 OK\r\n",
        )
        .await;
    call.wait_for_bye().await;
    assert_eq!(
        call.uac.count(200, "NOTIFY"),
        3,
        "every NOTIFY is answered 200"
    );
    let received = &call.uac.received;
    let last_ok = received
        .iter()
        .rposition(|m| m.status() == Some(200) && m.cseq_method() == "NOTIFY");
    let bye = received.iter().position(|m| m.method() == Some("BYE"));
    assert!(
        last_ok < bye,
        "the BYE overtook the 200 to the final NOTIFY"
    );
    assert_heard_after_menu(&call, &[]);
    let cdr = hotline.closed_cdr(&call).await;
    assert_eq!(cdr.outcome, Some(Outcome::Transferred));
    assert_eq!(cdr.billed_minutes, Some(1));
}

#[tokio::test]
async fn a_failed_transfer_says_agents_are_busy_and_goodbye() {
    let hotline = hotline_with_agents().await;
    let (mut call, refer) = ask_for_an_agent(&hotline).await;
    call.uac.answer_request(&refer, 202).await;
    // Another event package is not ours; a body that is no sipfrag tells nothing.
    notify(&mut call, "presence", "SIP/2.0 200 OK\r\n", 489).await;
    notify(&mut call, "refer", "not a sipfrag", 200).await;
    notify(
        &mut call,
        "refer",
        "SIP/2.0 503 Service Unavailable\r\n",
        200,
    )
    .await;
    assert_agents_busy_and_goodbye(&hotline, &mut call).await;
}

#[tokio::test]
async fn a_refused_refer_says_agents_are_busy() {
    let hotline = hotline_with_agents().await;
    let (mut call, refer) = ask_for_an_agent(&hotline).await;
    call.uac.answer_request(&refer, 603).await;
    assert_agents_busy_and_goodbye(&hotline, &mut call).await;
}

#[tokio::test]
async fn an_accepted_refer_without_a_final_notify_gives_up_after_10_s() {
    let hotline = hotline_with_agents().await;
    let (mut call, refer) = ask_for_an_agent(&hotline).await;
    let asked = Instant::now();
    call.uac.answer_request(&refer, 202).await;
    notify(&mut call, "refer", "SIP/2.0 100 Trying\r\n", 200).await;

    call.wait_hearing(Clip::Prompt(Prompt::AgentsBusy)).await;
    // A timer never fires early; how late it is on a shared machine is not asserted.
    assert!(
        asked.elapsed() >= Duration::from_secs(9),
        "{:?}",
        asked.elapsed()
    );
    call.wait_for_bye().await;
    let cdr = hotline.closed_cdr(&call).await;
    assert_eq!(cdr.outcome, Some(Outcome::TransferFailed));
}
