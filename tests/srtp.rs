//! SRTP with SDES keys end to end (issue 10 point 5): a caller offering RTP/SAVP resets its
//! password over SRTP, with either suite; what went over the wire holds no clip hotline played;
//! plain RTP injected into the call, even from the caller's own IP, is dropped unheard; and
//! `media.srtp` refuses the offers it must.

mod support;

use hotline::domain::{Clip, Outcome, Prompt};
use hotline::media::Codec;
use hotline::media::srtp::{SrtpMode, SrtpSuite};
use support::hotline_harness::{DTMF_PT, Hotline, WAIT, spoken_password, start};
use support::rtp_peer::RtpPeer;
use support::sip_uac::{Uac, sdp_offer};

const ACCOUNTS: [(&str, &str); 2] = [("0123456789", "0912345678"), ("1234567890", "0912345679")];
const ENTER_CODE: Clip = Clip::Prompt(Prompt::EnterCode);

/// An SRTP caller keys `code` while `injector` (plain RTP, same IP, another port) keys a wrong
/// code into the same call first; returns the password heard.
async fn reset_over_srtp(
    hotline: &Hotline,
    (code, phone): (&str, &str),
    codec: Codec,
    suite: SrtpSuite,
) -> String {
    let mut call = hotline.place_srtp_call(phone, codec, DTMF_PT, suite).await;
    call.wait_hearing(ENTER_CODE).await;
    // On a plain call these keys would be heard: four valid packets from the signalling IP
    // latch symmetric RTP, and a `#` ends the code. Here they do not authenticate.
    let injector = RtpPeer::bind().await.unwrap();
    injector.set_target(call.peer.target().unwrap());
    injector.send_dtmf("99#", DTMF_PT).await.unwrap();
    call.press(&format!("{code}#")).await;
    call.wait_for_bye().await;
    let password = spoken_password(&call.heard());
    let cdr = hotline.closed_cdr(&call).await;
    assert_eq!(cdr.outcome, Some(Outcome::Reset));
    assert_eq!(
        injector.packet_count(),
        0,
        "nothing was sent to the injector"
    );

    // The packets as they crossed the wire: as many as were decrypted, and no clip in them.
    let raw = call.peer.raw_received();
    assert_eq!(
        raw.len(),
        call.peer.received().len(),
        "every packet authenticated"
    );
    let tag = match suite {
        SrtpSuite::AesCm128HmacSha1_80 => 10,
        SrtpSuite::AesCm128HmacSha1_32 => 4,
    };
    assert!(raw.iter().all(|p| p.payload.len() == 160 + tag));
    let clear = call.recognizer.recognize(&raw);
    assert!(
        clear.is_empty(),
        "clips heard in the encrypted stream: {clear:?}"
    );
    password
}

#[tokio::test]
async fn srtp_callers_reset_with_either_suite_and_plain_rtp_injected_is_dropped() {
    let hotline = start(|config| assert_eq!(config.media.srtp, SrtpMode::Optional)).await;
    for (code, phone) in ACCOUNTS {
        hotline.add_account(code, phone, None).await;
    }
    let (eighty, thirty_two) = tokio::join!(
        reset_over_srtp(
            &hotline,
            ACCOUNTS[0],
            Codec::Pcmu,
            SrtpSuite::AesCm128HmacSha1_80
        ),
        reset_over_srtp(
            &hotline,
            ACCOUNTS[1],
            Codec::Pcma,
            SrtpSuite::AesCm128HmacSha1_32
        ),
    );
    assert!(hotline.password_verifies(ACCOUNTS[0].0, &eighty).await);
    assert!(hotline.password_verifies(ACCOUNTS[1].0, &thirty_two).await);
    // Three presses of eight packets (five updates, three end packets) per injection.
    let dropped = hotline.server.media_counters().rtp_dropped();
    assert!(
        dropped >= 2 * 3 * 8,
        "the injected packets were dropped ({dropped})"
    );
}

/// The final response to an INVITE offering `sdp`.
async fn refusal_of(hotline: &Hotline, sdp: &str) -> (u16, String) {
    let mut uac = Uac::new(hotline.server.sip_addr()).await;
    uac.invite(ACCOUNTS[0].1, None, &[], sdp).await;
    let response = uac.final_response("INVITE", WAIT).await;
    let status = response.status().unwrap();
    if status >= 300 {
        uac.ack_failure().await;
    }
    (status, response.header("Warning").unwrap_or_default())
}

#[tokio::test]
async fn media_srtp_refuses_what_it_must_with_488_and_a_warning() {
    let plain = sdp_offer(40000, "0 101", &["0 PCMU/8000", "101 telephone-event/8000"]);
    let required = start(|config| config.media.srtp = SrtpMode::Required).await;
    let (status, warning) = refusal_of(&required, &plain).await;
    assert_eq!(status, 488);
    assert!(warning.contains("SRTP is required"), "{warning}");

    let key = hotline::media::srtp::MasterKey::generate().unwrap();
    let secure = support::sdes::savp_offer(&plain, SrtpSuite::AesCm128HmacSha1_80, &key);
    let off = start(|config| config.media.srtp = SrtpMode::Off).await;
    let (status, warning) = refusal_of(&off, &secure).await;
    assert_eq!(status, 488);
    assert!(warning.contains("media.srtp = off"), "{warning}");

    // Keys hotline cannot use are refused, not half-used: an MKI here.
    let with_mki = format!("{}|2^31|1:4\r\n", secure.trim_end());
    assert!(with_mki.ends_with("|2^31|1:4\r\n") && with_mki.contains("a=crypto:1 "));
    let (status, warning) = refusal_of(&required, &with_mki).await;
    assert_eq!(status, 488);
    assert!(warning.contains("a=crypto"), "{warning}");
}
