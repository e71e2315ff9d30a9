//! Strict and symmetric RTP end to end (issue 10 point 2): a stranger spraying the RTP range
//! with key presses is neither heard nor answered, and a caller behind NAT is latched to with
//! `media.symmetric_rtp` and refused without it.

mod support;

use std::net::{IpAddr, Ipv4Addr};

use hotline::domain::{Clip, Outcome, Prompt};
use hotline::media::Codec;
use support::hotline_harness::{Call, DTMF_PT, Hotline, WAIT, spoken_password, start};
use support::rtp_peer::{Recognizer, RtpPeer};
use support::rtp_sprayer::RtpSprayer;
use tokio::time::{Instant, sleep};

/// Accounts (code, registered number), one per reset call of the spray test.
const ACCOUNTS: [(&str, &str); 4] = [
    ("0123456789", "0912345678"),
    ("1234567890", "0912345679"),
    ("2345678901", "0912345670"),
    ("3456789012", "0912345671"),
];
/// A number that owns no account.
const STRANGER_NUMBER: &str = "0987654321";
/// The attacker's address: loopback, but neither the calls' SIP source nor their SDP address.
const SPRAYER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 7));
/// Keys that would change every call's outcome if heard: a `#` ends a code early, a digit
/// spoils it.
const SPRAY_KEYS: &str = "9#5*";
const ENTER_CODE: Clip = Clip::Prompt(Prompt::EnterCode);

/// How the caller keys its code.
#[derive(Clone, Copy)]
enum Keys {
    Rfc4733,
    Inband,
}

/// A caller who keys `code` and hears a password: returns it, as read twice.
async fn reset(hotline: &Hotline, phone: &str, code: &str, codec: Codec, keys: Keys) -> String {
    let mut call = match keys {
        Keys::Rfc4733 => hotline.place_call(phone, None, codec, DTMF_PT).await,
        Keys::Inband => hotline.place_call_offering(phone, None, codec, None).await,
    };
    call.wait_hearing(ENTER_CODE).await;
    let entry = format!("{code}#");
    match keys {
        Keys::Rfc4733 => call.press(&entry).await,
        Keys::Inband => call.press_inband(&entry).await,
    }
    call.wait_for_bye().await;
    let password = spoken_password(&call.heard());
    assert_outcome(hotline, &call, Outcome::Reset).await;
    password
}

/// A caller whose number does not own `code`.
async fn mismatch(hotline: &Hotline, code: &str) {
    let mut call = hotline
        .place_call(STRANGER_NUMBER, None, Codec::Pcmu, DTMF_PT)
        .await;
    call.wait_hearing(ENTER_CODE).await;
    call.press(&format!("{code}#")).await;
    call.wait_for_bye().await;
    let heard = call.heard();
    assert!(
        heard.ends_with(&[
            Clip::Prompt(Prompt::Mismatch),
            Clip::Prompt(Prompt::Goodbye)
        ]),
        "{heard:?}"
    );
    assert_outcome(hotline, &call, Outcome::Mismatch).await;
}

async fn assert_outcome(hotline: &Hotline, call: &Call, outcome: Outcome) {
    let cdr = hotline.closed_cdr(call).await;
    assert_eq!(cdr.outcome, Some(outcome), "CDR of {}", call.uac.call_id);
}

#[tokio::test]
async fn a_stranger_spraying_the_rtp_range_is_neither_heard_nor_answered() {
    let hotline = start(|_| {}).await;
    for (code, phone) in ACCOUNTS {
        hotline.add_account(code, phone, None).await;
    }
    let media = &hotline.config.media;
    let ports = media.rtp_port_min..=media.rtp_port_max;
    let sprayer = RtpSprayer::start(SPRAYER, ports, SPRAY_KEYS, DTMF_PT).await;

    let [a, b, c, d] = ACCOUNTS;
    let (passwords, ()) = tokio::join!(
        async {
            tokio::join!(
                reset(&hotline, a.1, a.0, Codec::Pcmu, Keys::Rfc4733),
                reset(&hotline, b.1, b.0, Codec::Pcma, Keys::Rfc4733),
                reset(&hotline, c.1, c.0, Codec::Pcmu, Keys::Inband),
                reset(&hotline, d.1, d.0, Codec::Pcma, Keys::Inband),
            )
        },
        mismatch(&hotline, a.0),
    );

    let (pa, pb, pc, pd) = passwords;
    for ((code, _), password) in ACCOUNTS.iter().zip([pa, pb, pc, pd]) {
        assert!(
            hotline.password_verifies(code, &password).await,
            "the password heard for {code} is the one stored"
        );
    }
    assert!(sprayer.sent() > 0);
    let dropped = hotline.server.media_counters().rtp_dropped();
    assert!(
        dropped > 100,
        "the spray reached the calls' ports and was dropped ({dropped} packets)"
    );
    assert_eq!(
        sprayer.received(),
        0,
        "hotline sent nothing to the sprayer at {}",
        sprayer.address()
    );
}

/// Until `clip` was heard by `peer`, within [`WAIT`].
async fn wait_heard_by(peer: &RtpPeer, recognizer: &Recognizer, clip: Clip) {
    let until = Instant::now() + WAIT;
    while !recognizer
        .recognize(&peer.received())
        .iter()
        .any(|h| h.clip == clip)
    {
        assert!(Instant::now() < until, "{clip:?} not heard within {WAIT:?}");
        sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_caller_behind_nat_is_latched_to_with_symmetric_rtp() {
    let hotline = start(|config| assert!(config.media.symmetric_rtp)).await;
    let (code, phone) = ACCOUNTS[0];
    hotline.add_account(code, phone, None).await;

    let (mut call, sdp_side) = hotline
        .place_call_behind_nat(phone, Codec::Pcmu, DTMF_PT)
        .await;
    // A phone sends audio from the start; a few frames prove the NAT's port.
    call.peer.send_silence(Codec::Pcmu, 10).await.unwrap();
    call.wait_hearing(ENTER_CODE).await;
    call.press(&format!("{code}#")).await;
    call.wait_for_bye().await;
    let password = spoken_password(&call.heard());
    assert!(hotline.password_verifies(code, &password).await);
    assert_outcome(&hotline, &call, Outcome::Reset).await;
    // Before the latch our frames went to the SDP address; none of the reading did.
    let sdp_heard = call.recognizer.heard_clips(&sdp_side.received());
    assert!(
        !sdp_heard.contains(&Clip::Prompt(Prompt::NewPassword)),
        "{sdp_heard:?}"
    );
}

#[tokio::test]
async fn a_caller_behind_nat_is_refused_media_with_strict_rtp() {
    let hotline = start(|config| {
        config.media.symmetric_rtp = false;
        config.ivr.first_digit_timeout_ms = 1000;
        config.ivr.code_tries = 1;
    })
    .await;
    let (code, phone) = ACCOUNTS[0];
    hotline.add_account(code, phone, None).await;

    let (mut call, sdp_side) = hotline
        .place_call_behind_nat(phone, Codec::Pcmu, DTMF_PT)
        .await;
    call.peer.send_silence(Codec::Pcmu, 10).await.unwrap();
    // The question for the code goes to the SDP address, where this caller is not.
    wait_heard_by(&sdp_side, &call.recognizer, ENTER_CODE).await;
    call.press(&format!("{code}#")).await;
    call.wait_for_bye().await;
    assert_outcome(&hotline, &call, Outcome::NoInput).await;
    assert_eq!(
        call.peer.packet_count(),
        0,
        "nothing reached the NAT's port"
    );
    assert!(hotline.account(code).await.password_hash.is_none());
    // Every packet the caller sent was dropped: ten frames of silence, and eleven key presses
    // of six packets each (three updates, three end packets).
    assert_eq!(hotline.server.media_counters().rtp_dropped(), 10 + 11 * 6);
}
