//! SDES for the test caller: an RTP/SAVP offer with our key, and the key of hotline's answer.
#![allow(dead_code)]

use hotline::media::srtp::{MasterKey, SrtpSuite};

/// `offer` (one RTP/AVP audio stream) as RTP/SAVP with one `a=crypto` line, tag 1.
pub fn savp_offer(offer: &str, suite: SrtpSuite, key: &MasterKey) -> String {
    assert!(offer.contains(" RTP/AVP "), "{offer}");
    format!(
        "{}a=crypto:1 {} inline:{}\r\n",
        offer.replace(" RTP/AVP ", " RTP/SAVP "),
        suite.sdes_name(),
        key.to_base64()
    )
}

/// The suite and key of the answer's one `a=crypto` line, which must repeat our tag 1.
pub fn answered_key(answer: &str) -> (SrtpSuite, MasterKey) {
    let cryptos: Vec<&str> = answer
        .lines()
        .filter_map(|l| l.strip_prefix("a=crypto:"))
        .collect();
    assert_eq!(cryptos.len(), 1, "one a=crypto in the answer:\n{answer}");
    let fields: Vec<&str> = cryptos[0].split_whitespace().collect();
    assert_eq!(fields.len(), 3, "tag, suite and key only:\n{answer}");
    assert_eq!(fields[0], "1", "our tag:\n{answer}");
    let suite = SrtpSuite::from_sdes_name(fields[1]).expect("a suite we offered");
    let key = fields[2]
        .strip_prefix("inline:")
        .and_then(MasterKey::from_base64)
        .unwrap_or_else(|| panic!("an inline key of 30 bytes:\n{answer}"));
    (suite, key)
}
