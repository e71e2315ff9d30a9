//! `sip.allowed_peers` on the wire: a source outside the list gets no answer at all and never
//! reaches the call flow, whatever it claims to be; an allowed source is served as usual.

mod support;

use std::net::IpAddr;
use std::time::Duration;

use hotline::sip::{AllowedPeers, SipConfig, SipServer};
use support::hotline_harness::start;
use support::sip_uac::{Uac, sdp_offer};

/// Long enough for any answer on loopback; the service answers OPTIONS in microseconds.
const SILENCE: Duration = Duration::from_secs(2);

fn only_127_0_0_1() -> AllowedPeers {
    AllowedPeers::new(vec!["127.0.0.1/32".parse().unwrap()])
}

fn stranger() -> IpAddr {
    "127.0.0.5".parse().unwrap()
}

#[tokio::test]
async fn a_stranger_gets_no_answer_and_no_call_while_an_allowed_peer_is_served() {
    let config = SipConfig {
        allowed_peers: only_127_0_0_1(),
        ..SipConfig::new("127.0.0.1:0".parse().unwrap())
    };
    let (server, mut calls) = SipServer::start(config).await.expect("server starts");

    let mut outsider = Uac::new_from(stranger(), server.local_addr()).await;
    outsider.options().await;
    outsider
        .invite("0912345678", None, &[], &sdp_offer(42000, "0 101", &[]))
        .await;
    // Garbage that would be answered 400 from anyone allowed.
    outsider.send_raw(b"FROBNICATE sip:x SIP/2.0\r\n\r\n").await;
    assert!(
        outsider.next(SILENCE).await.is_none(),
        "a stranger must hear nothing: {:?}",
        outsider.received
    );
    assert!(calls.try_recv().is_err(), "no call reached the application");

    let mut trunk = Uac::new(server.local_addr()).await;
    trunk.options().await;
    trunk.wait_response(200, "OPTIONS", SILENCE).await;
    server.shutdown();
}

#[tokio::test]
async fn a_strangers_spoofed_caller_id_resets_nothing_and_leaves_no_cdr() {
    let hotline = start(|config| {
        config.sip.allowed_peers = Some(vec!["127.0.0.1/32".parse().unwrap()]);
    })
    .await;
    hotline.add_account("0123456789", "0912345678", None).await;

    let mut outsider = Uac::new_from(stranger(), hotline.server.sip_addr()).await;
    outsider
        .invite(
            "0912345678",
            None,
            &[],
            &sdp_offer(42010, "0 101", &["101 telephone-event/8000"]),
        )
        .await;
    assert!(outsider.next(SILENCE).await.is_none(), "no 100, no 200");

    let mut cdrs = Vec::new();
    assert_eq!(hotline.store.export_cdrs(&mut cdrs).await.unwrap(), 0);
    assert!(hotline.account("0123456789").await.password_hash.is_none());
}
