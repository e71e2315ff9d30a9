//! Issue 4, "done when": a password reset with the insurance code keyed each of the three ways
//! DTMF reaches hotline — RFC 4733 telephone-events, SIP INFO, and tones in the audio — against
//! a whole hotline over loopback, plus the source selection that keeps one press from being
//! heard twice.

mod support;

use hotline::domain::{Clip, Prompt};
use hotline::media::Codec;
use hotline::media::dtmf::DtmfMode;
use support::hotline_harness::{Call, DTMF_PT, Hotline, start};
use support::rtp_peer::{DtmfTiming, RtpPeer};

const CODE: &str = "0123456789";
const PHONE: &str = "0912345678";
/// The harness starts in `code` mode: this is the first prompt, and keys are listened to.
const ENTER_CODE: Clip = Clip::Prompt(Prompt::EnterCode);

/// Waits for the first reading of the new password, hangs up and checks the store took it.
async fn assert_reset(hotline: &Hotline, call: &mut Call) {
    let password = call.wait_first_reading().await;
    call.hang_up().await;
    assert!(
        hotline.password_verifies(CODE, &password).await,
        "the password heard is the one stored"
    );
}

async fn hotline_with_account(mode: Option<DtmfMode>) -> Hotline {
    let hotline = start(|config| {
        if let Some(mode) = mode {
            config.media.dtmf = mode;
        }
    })
    .await;
    hotline.add_account(CODE, PHONE, None).await;
    hotline
}

#[tokio::test]
async fn reset_with_rfc4733_telephone_events() {
    let hotline = hotline_with_account(None).await;
    let mut call = hotline.place_call(PHONE, None, Codec::Pcmu, 96).await;
    call.barge_in(&format!("{CODE}#")).await;
    assert_reset(&hotline, &mut call).await;
}

#[tokio::test]
async fn reset_with_sip_info() {
    let hotline = hotline_with_account(None).await;
    let mut call = hotline.place_call(PHONE, None, Codec::Pcma, DTMF_PT).await;
    call.wait_hearing(ENTER_CODE).await;
    call.press_by_info(&format!("{CODE}#")).await;
    assert_reset(&hotline, &mut call).await;
}

#[tokio::test]
async fn reset_with_inband_tones_when_no_telephone_event_was_offered() {
    let hotline = hotline_with_account(None).await;
    let mut call = hotline
        .place_call_offering(PHONE, None, Codec::Pcmu, None)
        .await;
    call.wait_hearing(ENTER_CODE).await;
    call.press_inband(&format!("{CODE}#")).await;
    assert_reset(&hotline, &mut call).await;
}

#[tokio::test]
async fn reset_with_inband_tones_on_a_trunk_configured_inband() {
    // The trunk offers telephone-event but sends tones: `inband` ignores the offer.
    let hotline = hotline_with_account(Some(DtmfMode::Inband)).await;
    let mut call = hotline.place_call(PHONE, None, Codec::Pcma, DTMF_PT).await;
    call.wait_hearing(ENTER_CODE).await;
    call.press_inband(&format!("{CODE}#")).await;
    assert_reset(&hotline, &mut call).await;
}

#[tokio::test]
async fn a_phone_sending_events_and_tones_for_the_same_press_is_heard_once() {
    // RFC 4733 negotiated: the tones a phone leaves in the audio are not listened to. Were
    // they, every key would count twice and the 22 keys would not be a valid code.
    let hotline = hotline_with_account(None).await;
    let mut call = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    call.wait_hearing(ENTER_CODE).await;
    let keys = format!("{CODE}#");
    let timing = DtmfTiming::default();
    // The tones go out from a second socket so each stream keeps its own RTP clock.
    let tone_sender = RtpPeer::bind().await.expect("second RTP socket");
    tone_sender.set_target(call.peer.target().expect("the answer's RTP address"));
    let (events, tones) = tokio::join!(
        call.peer.send_dtmf_with(&keys, DTMF_PT, timing),
        tone_sender.send_inband_dtmf(&keys, Codec::Pcmu, timing),
    );
    events.expect("events sent");
    tones.expect("tones sent");
    assert_reset(&hotline, &mut call).await;
}
