//! SIP over TCP and TLS against a whole hotline (issue 10 item 4): a reset call over each, the
//! headers each transport needs, Content-Length framing on a stream, `sips:` only over TLS,
//! strangers closed at accept, a connection that closes mid-call ending the call, billed, and
//! the cap on open connections and the TLS handshake deadline.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use hotline::config::Config;
use hotline::domain::{Clip, Outcome, Prompt};
use hotline::media::Codec;
use hotline::sip::{SipConfig, SipServer, StreamLimits, TlsListen};
use support::hotline_harness::{DTMF_PT, Hotline, WAIT, prompts_of, spoken_password, start};
use support::sip_uac::{SipMsg, Uac, sdp_offer};
use support::tls_cert::TestCertificate;
use tokio::io::AsyncReadExt;

const CODE: &str = "0123456789";
const PHONE: &str = "0912345678";

fn loopback_port_0() -> Option<SocketAddr> {
    Some(SocketAddr::from(([127, 0, 0, 1], 0)))
}

fn with_tcp(config: &mut Config) {
    config.sip.tcp_listen = loopback_port_0();
}

async fn tcp_hotline() -> Hotline {
    let hotline = start(with_tcp).await;
    hotline.add_account(CODE, PHONE, None).await;
    hotline
}

fn tcp_addr(hotline: &Hotline) -> SocketAddr {
    hotline.server.sip_tcp_addr().expect("listening on TCP")
}

fn offer() -> String {
    sdp_offer(
        40_000,
        "0 101",
        &["0 PCMU/8000", "101 telephone-event/8000"],
    )
}

/// Keys the code, hears the new password read twice and the BYE; checks it verifies and the
/// call was billed as a reset.
async fn reset_and_verify(hotline: &Hotline, call: &mut support::hotline_harness::Call) -> SipMsg {
    call.barge_in(&format!("{CODE}#")).await;
    let bye = call.wait_for_bye().await;
    let heard = call.heard();
    assert_eq!(
        prompts_of(&heard),
        [Prompt::NewPassword, Prompt::RepeatPassword, Prompt::Goodbye],
        "{heard:?}"
    );
    assert!(
        hotline
            .password_verifies(CODE, &spoken_password(&heard))
            .await
    );
    let cdr = hotline.closed_cdr(call).await;
    assert_eq!(cdr.outcome, Some(Outcome::Reset));
    assert_eq!(cdr.billed_minutes, Some(1));
    bye
}

#[tokio::test]
async fn a_reset_call_over_tcp_completes_and_our_bye_names_the_tcp_port() {
    let hotline = tcp_hotline().await;
    let uac = Uac::connect_tcp(tcp_addr(&hotline)).await;
    let mut call = hotline
        .place_call_on(uac, PHONE, None, Codec::Pcmu, Some(DTMF_PT))
        .await;
    let bye = reset_and_verify(&hotline, &mut call).await;
    let via = bye.header("Via").expect("Via");
    let expected = format!("SIP/2.0/TCP {}", tcp_addr(&hotline));
    assert!(via.starts_with(&expected), "{via} should start {expected}");
}

#[tokio::test]
async fn a_reset_call_over_tls_completes() {
    let cert = TestCertificate::generate();
    let (certificate, private_key) = (cert.certificate.clone(), cert.private_key.clone());
    let hotline = start(move |config| {
        config.sip.tls_listen = loopback_port_0();
        config.sip.tls_certificate = Some(certificate);
        config.sip.tls_private_key = Some(private_key);
    })
    .await;
    hotline.add_account(CODE, PHONE, None).await;
    let tls = hotline.server.sip_tls_addr().expect("listening on TLS");
    // A sips: Request-URI and Contact, as a TLS phone sends them.
    let uac = Uac::connect_tls(tls, &cert.certificate).await;
    let mut call = hotline
        .place_call_on(uac, PHONE, None, Codec::Pcmu, Some(DTMF_PT))
        .await;
    let ok = call
        .uac
        .received
        .iter()
        .find(|m| m.status() == Some(200) && m.cseq_method() == "INVITE")
        .cloned()
        .expect("200 OK");
    let contact = ok.header("Contact").expect("Contact");
    assert!(contact.contains(&format!("sips:{tls}")), "{contact}");
    let bye = reset_and_verify(&hotline, &mut call).await;
    assert!(
        bye.header("Via")
            .unwrap()
            .starts_with(&format!("SIP/2.0/TLS {tls}"))
    );
}

#[tokio::test]
async fn answers_go_back_on_the_connection_with_contact_and_record_route_right() {
    let hotline = tcp_hotline().await;
    let mut uac = Uac::connect_tcp(tcp_addr(&hotline)).await;
    let record_route = "Record-Route: <sip:proxy.test;lr;transport=tcp>";
    uac.invite(PHONE, None, &[record_route], &offer()).await;
    let ok = uac.wait_response(200, "INVITE", WAIT).await;
    uac.ack().await;
    assert!(
        ok.header("Via")
            .unwrap()
            .starts_with("SIP/2.0/TCP 127.0.0.1:"),
        "{}",
        ok.raw
    );
    let contact = ok.header("Contact").expect("Contact").to_ascii_lowercase();
    assert!(
        contact.contains(&format!("sip:{};transport=tcp", tcp_addr(&hotline))),
        "{contact}"
    );
    assert_eq!(
        ok.header("Record-Route").as_deref(),
        Some("<sip:proxy.test;lr;transport=tcp>")
    );
    uac.bye().await;
    uac.wait_response(200, "BYE", WAIT).await;
}

#[tokio::test]
async fn a_request_split_in_two_segments_and_two_requests_in_one_are_each_answered() {
    let hotline = tcp_hotline().await;
    let mut uac = Uac::connect_tcp(tcp_addr(&hotline)).await;
    let local = uac.local_addr();
    let options = |n: u32| {
        format!(
            "OPTIONS sip:19009068@{server} SIP/2.0\r\n\
             Via: SIP/2.0/TCP {local};branch=z9hG4bK-frame-{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:qa@{local}>;tag=f{n}\r\n\
             To: <sip:19009068@{server}>\r\nCall-ID: frame-{n}\r\nCSeq: 1 OPTIONS\r\n\
             Content-Length: 0\r\n\r\n",
            server = tcp_addr(&hotline),
        )
    };
    let split = options(1);
    let (first, second) = split.as_bytes().split_at(split.len() / 2);
    uac.send_raw(first).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    uac.send_raw(second).await;
    let answer = uac.wait_response(200, "OPTIONS", WAIT).await;
    assert_eq!(answer.header("Call-ID").as_deref(), Some("frame-1"));

    uac.send_raw(format!("{}{}", options(2), options(3)).as_bytes())
        .await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let answer = uac.wait_response(200, "OPTIONS", WAIT).await;
        ids.push(answer.header("Call-ID").unwrap());
    }
    ids.sort();
    assert_eq!(ids, ["frame-2", "frame-3"]);
}

#[tokio::test]
async fn a_sips_request_uri_is_refused_over_tcp_with_416() {
    let hotline = tcp_hotline().await;
    let mut uac = Uac::connect_tcp(tcp_addr(&hotline)).await;
    let local = uac.local_addr();
    let invite = format!(
        "INVITE sips:19009068@{server} SIP/2.0\r\n\
         Via: SIP/2.0/TCP {local};branch=z9hG4bK-sips\r\nMax-Forwards: 70\r\n\
         From: <sip:qa@{local}>;tag=s\r\nTo: <sips:19009068@{server}>\r\nCall-ID: sips-1\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:qa@{local};transport=tcp>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {length}\r\n\r\n{sdp}",
        server = tcp_addr(&hotline),
        length = offer().len(),
        sdp = offer(),
    );
    uac.send_raw(invite.as_bytes()).await;
    let refused = uac.final_response("INVITE", WAIT).await;
    assert_eq!(refused.status(), Some(416), "{}", refused.raw);
}

#[tokio::test]
async fn a_connection_from_outside_the_allowed_peers_is_closed_unanswered() {
    let hotline = start(|config| {
        with_tcp(config);
        config.sip.allowed_peers = Some(vec!["127.0.0.1/32".parse().unwrap()]);
    })
    .await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.5:0".parse().unwrap()).unwrap();
    let mut stranger = socket.connect(tcp_addr(&hotline)).await.unwrap();
    let mut buf = [0u8; 512];
    let read = tokio::time::timeout(WAIT, stranger.read(&mut buf))
        .await
        .expect("the connection is closed, not left open");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    // The allowed source still gets in.
    let mut friend = Uac::connect_tcp(tcp_addr(&hotline)).await;
    friend.options().await;
    friend.wait_response(200, "OPTIONS", WAIT).await;
}

#[tokio::test]
async fn a_connection_that_closes_mid_call_ends_the_call_billed_as_abandoned() {
    let hotline = tcp_hotline().await;
    let uac = Uac::connect_tcp(tcp_addr(&hotline)).await;
    let mut call = hotline
        .place_call_on(uac, PHONE, None, Codec::Pcmu, Some(DTMF_PT))
        .await;
    call.wait_hearing(Clip::Prompt(Prompt::Welcome)).await;
    let id = call.call_id();
    // The phone loses its network: the connection goes, no BYE.
    let link = std::mem::replace(&mut call.uac, Uac::new(hotline.server.sip_addr()).await);
    link.drop_connection().await;

    let cdr = support::hotline_harness::closed_cdr(&hotline.store, &id).await;
    assert_eq!(cdr.outcome, Some(Outcome::Abandoned));
    assert_eq!(cdr.billed_minutes, Some(1));
    assert_eq!(cdr.amount, Some(1000));
    assert!(cdr.ended_at.is_some());
}

/// A SIP endpoint alone (no call flow), listening on TCP and TLS with tight limits.
async fn limited_endpoint(limits: StreamLimits) -> SipServer {
    let any_port = loopback_port_0().unwrap();
    let testdata = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/tls");
    let config = SipConfig {
        tcp_listen: Some(any_port),
        tls: Some(TlsListen {
            listen: any_port,
            certificate: format!("{testdata}/cert.pem").into(),
            private_key: format!("{testdata}/key.pem").into(),
        }),
        streams: limits,
        ..SipConfig::new(any_port)
    };
    let (server, _calls) = SipServer::start(config).await.expect("server starts");
    server
}

/// Whether the server closed `stream` (EOF or reset) within WAIT, having sent nothing.
async fn closed_unanswered(stream: &mut tokio::net::TcpStream) -> bool {
    let mut buf = [0u8; 512];
    matches!(
        tokio::time::timeout(WAIT, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_until_one_closes() {
    let server = limited_endpoint(StreamLimits {
        max_connections: 2,
        ..StreamLimits::default()
    })
    .await;
    let tcp = server.tcp_addr().unwrap();
    let mut first = Uac::connect_tcp(tcp).await;
    let mut second = Uac::connect_tcp(tcp).await;
    for uac in [&mut first, &mut second] {
        uac.options().await;
        uac.wait_response(200, "OPTIONS", WAIT).await;
    }
    let mut third = tokio::net::TcpStream::connect(tcp).await.unwrap();
    assert!(
        closed_unanswered(&mut third).await,
        "a third connection is refused"
    );

    first.drop_connection().await;
    // Its place comes back once the server has seen it close.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut again = Uac::connect_tcp(tcp).await;
        again.options().await;
        if again.next(Duration::from_millis(500)).await.is_some() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place never came back"
        );
    }
}

#[tokio::test]
async fn a_tls_client_that_never_finishes_its_handshake_is_cut_off() {
    let server = limited_endpoint(StreamLimits {
        handshake_timeout: Duration::from_millis(300),
        ..StreamLimits::default()
    })
    .await;
    let mut silent = tokio::net::TcpStream::connect(server.tls_addr().unwrap())
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    assert!(closed_unanswered(&mut silent).await);
    assert!(started.elapsed() >= Duration::from_millis(300));
}
