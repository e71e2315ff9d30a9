//! SRTP in the offer/answer: which streams `media.srtp` takes, and the `a=crypto` we answer.

use super::*;
use crate::media::srtp::SrtpSuite;

const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

fn offer(media_lines: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n{media_lines}"
    )
}

fn savp(cryptos: &[&str]) -> String {
    let mut m = "m=audio 4000 RTP/SAVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n".to_string();
    for c in cryptos {
        m.push_str(&format!("a=crypto:{c}\r\n"));
    }
    offer(&m)
}

fn crypto(tag: u32, suite: &str) -> String {
    format!("{tag} {suite} inline:{KEY}")
}

#[test]
fn an_savp_offer_gets_the_first_usable_line_and_a_fresh_key_of_ours() {
    let sdp = savp(&[
        &crypto(1, "AES_256_CM_HMAC_SHA1_80"),
        &crypto(2, "AES_CM_128_HMAC_SHA1_32"),
        &crypto(3, "AES_CM_128_HMAC_SHA1_80"),
    ]);
    let first = negotiate(&sdp, SrtpMode::Optional).unwrap();
    let srtp = first.srtp.clone().unwrap();
    assert_eq!(first.profile, RtpProfile::Savp);
    assert_eq!(
        (srtp.tag, srtp.keys.suite),
        (2, SrtpSuite::AesCm128HmacSha1_32)
    );
    assert_eq!(srtp.keys.theirs.to_base64(), KEY);
    assert_ne!(srtp.keys.ours, srtp.keys.theirs);
    let again = negotiate(&sdp, SrtpMode::Required).unwrap().srtp.unwrap();
    assert_ne!(again.keys.ours, srtp.keys.ours, "a new key per call");

    let answer = answer("203.0.113.5".parse().unwrap(), 30000, &first, 1);
    assert!(
        answer.contains("m=audio 30000 RTP/SAVP 0 101\r\n"),
        "{answer}"
    );
    let lines: Vec<&str> = answer
        .lines()
        .filter(|l| l.starts_with("a=crypto"))
        .collect();
    assert_eq!(
        lines,
        [format!(
            "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{}",
            srtp.keys.ours.to_base64()
        )]
    );
    // Our answer, read as an offer, hands over our key.
    let back = negotiate(&answer, SrtpMode::Required)
        .unwrap()
        .srtp
        .unwrap();
    assert_eq!(back.keys.theirs, srtp.keys.ours);
}

#[test]
fn a_best_effort_avp_offer_with_keys_is_encrypted_unless_srtp_is_off() {
    let sdp = offer(&format!(
        "m=audio 4000 RTP/AVP 0\r\na=crypto:{}\r\n",
        crypto(1, "AES_CM_128_HMAC_SHA1_80")
    ));
    for mode in [SrtpMode::Optional, SrtpMode::Required] {
        let m = negotiate(&sdp, mode).unwrap();
        assert_eq!(m.profile, RtpProfile::Avp);
        assert_eq!(m.srtp.unwrap().keys.suite, SrtpSuite::AesCm128HmacSha1_80);
    }
    let plain = negotiate(&sdp, SrtpMode::Off).unwrap();
    assert_eq!(plain.srtp, None);
    let answer = answer("203.0.113.5".parse().unwrap(), 30000, &plain, 1);
    assert!(!answer.contains("a=crypto"), "{answer}");
}

#[test]
fn srtp_mode_decides_what_is_refused() {
    let plain = offer("m=audio 4000 RTP/AVP 0\r\n");
    assert_eq!(negotiate(&plain, SrtpMode::Optional).unwrap().srtp, None);
    assert_eq!(negotiate(&plain, SrtpMode::Off).unwrap().srtp, None);
    assert_eq!(
        negotiate(&plain, SrtpMode::Required),
        Err(SdpError::SrtpRequired)
    );

    let secure = savp(&[&crypto(1, "AES_CM_128_HMAC_SHA1_80")]);
    assert_eq!(negotiate(&secure, SrtpMode::Off), Err(SdpError::SrtpOff));

    let unusable = savp(&[
        &crypto(1, "AEAD_AES_128_GCM"),
        &format!("2 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^31|1:4"),
        &format!("3 AES_CM_128_HMAC_SHA1_80 inline:{KEY} UNENCRYPTED_SRTP"),
    ]);
    for mode in [SrtpMode::Optional, SrtpMode::Required] {
        assert_eq!(negotiate(&unusable, mode), Err(SdpError::NoUsableCrypto));
    }
    assert_eq!(
        negotiate(&savp(&[]), SrtpMode::Optional),
        Err(SdpError::NoUsableCrypto)
    );
}

#[test]
fn with_srtp_off_an_avp_alternative_is_taken_and_the_savp_line_declined() {
    let sdp = offer(&format!(
        "m=audio 4000 RTP/SAVP 0\r\na=crypto:{}\r\nm=audio 4002 RTP/AVP 0\r\n",
        crypto(1, "AES_CM_128_HMAC_SHA1_80")
    ));
    let m = negotiate(&sdp, SrtpMode::Off).unwrap();
    assert_eq!((m.remote_rtp.port(), m.srtp.clone()), (4002, None));
    let answer = answer("203.0.113.5".parse().unwrap(), 30000, &m, 1);
    let m_lines: Vec<&str> = answer.lines().filter(|l| l.starts_with("m=")).collect();
    assert_eq!(m_lines, ["m=audio 0 RTP/SAVP 0", "m=audio 30000 RTP/AVP 0"]);
    // Optional takes the first, secure one.
    let m = negotiate(&sdp, SrtpMode::Optional).unwrap();
    assert_eq!((m.remote_rtp.port(), m.profile), (4000, RtpProfile::Savp));
}
