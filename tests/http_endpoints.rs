//! The operator's HTTP listener (issue 11, items 1 and 2) on a whole hotline in-process:
//! `/healthz` while it runs, `/readyz` following the admission gate (database, drain) with the
//! reason as text, and `/metrics` moving with a real call.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use hotline::domain::{Clip, Prompt};
use hotline::media::Codec;
use hotline::server::Server;
use support::hotline_harness::{DTMF_PT, WAIT, base_config, start, start_with_switch};
use support::http_get::{Response, get, sample};
use tokio::time::{Instant, sleep};

const CODE: &str = "0123456789";
const PHONE: &str = "0912345678";

async fn fetch(addr: SocketAddr, path: &str) -> Response {
    get(addr, path)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// Polls `/readyz` until its status is `status`; returns that response. (The database monitor
/// pings once a second, so a change shows within a few seconds; `WAIT` bounds a broken one.)
async fn readyz_until(addr: SocketAddr, status: u16) -> Response {
    let until = Instant::now() + WAIT;
    loop {
        let response = fetch(addr, "/readyz").await;
        if response.status == status {
            return response;
        }
        assert!(Instant::now() < until, "/readyz stayed {response:?}");
        sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn healthz_and_readyz_answer_200_on_a_node_taking_calls() {
    let hotline = start(|_| {}).await;
    let http = hotline.server.http_addr();
    let health = fetch(http, "/healthz").await;
    assert_eq!(health.status, 200, "{health:?}");
    let ready = fetch(http, "/readyz").await;
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(fetch(http, "/nothing-here").await.status, 404);
    hotline.server.shutdown().await;
}

#[tokio::test]
async fn readyz_is_503_naming_the_database_while_it_is_unreachable_and_200_once_back() {
    let (hotline, switch) = start_with_switch(|_| {}).await;
    let http = hotline.server.http_addr();
    assert_eq!(fetch(http, "/readyz").await.status, 200);

    switch.cut(true);
    let away = readyz_until(http, 503).await;
    assert!(away.body.contains("database is unreachable"), "{away:?}");
    // Alive all the same: restarting the process would not bring the database back.
    assert_eq!(fetch(http, "/healthz").await.status, 200);

    switch.cut(false);
    readyz_until(http, 200).await;
    hotline.server.shutdown().await;
}

#[tokio::test]
async fn readyz_is_503_draining_while_a_call_keeps_the_drain_going() {
    let hotline = start(|config| config.server.drain_seconds = 300).await;
    hotline.add_account(CODE, PHONE, None).await;
    let http = hotline.server.http_addr();
    let mut call = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    call.wait_hearing(Clip::Prompt(Prompt::Welcome)).await;

    let draining = tokio::spawn(hotline.server.drain(std::future::pending()));
    let refused = readyz_until(http, 503).await;
    assert!(refused.body.contains("draining"), "{refused:?}");
    assert_eq!(fetch(http, "/healthz").await.status, 200);

    call.hang_up().await;
    tokio::time::timeout(WAIT, draining)
        .await
        .expect("the drain ends with the last call")
        .expect("drain task");
    // Stopped with the server.
    assert!(get(http, "/healthz").await.is_err(), "still listening");
}

#[tokio::test]
async fn a_reset_call_moves_the_call_sip_rtp_key_and_hash_metrics() {
    let hotline = start(|_| {}).await;
    hotline.add_account(CODE, PHONE, None).await;
    let http = hotline.server.http_addr();
    // Other tests of this binary share the process's recorder: compare before and after.
    let before = fetch(http, "/metrics").await.body;

    let mut call = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    call.barge_in(&format!("{CODE}#")).await;
    call.wait_first_reading().await;
    call.hang_up().await;
    hotline.closed_cdr(&call).await;

    let after = fetch(http, "/metrics").await;
    assert_eq!(after.status, 200);
    let after = after.body;
    let moved = |series: &str| sample(&after, series) - sample(&before, series);
    assert!(moved("hotline_resets_total") >= 1.0, "{after}");
    assert!(
        moved("hotline_calls_ended_total{outcome=\"reset\"}") >= 1.0,
        "{after}"
    );
    assert!(
        moved("hotline_keys_received_total{source=\"rfc4733\"}") >= 11.0,
        "{after}"
    );
    assert!(
        moved("hotline_sip_requests_total{method=\"INVITE\"}") >= 1.0,
        "{after}"
    );
    assert!(
        moved("hotline_sip_requests_total{method=\"BYE\"}") >= 1.0,
        "{after}"
    );
    assert!(
        moved("hotline_sip_responses_total{status=\"200\"}") >= 2.0,
        "{after}"
    );
    assert!(moved("hotline_rtp_packets_sent_total") >= 50.0, "{after}");
    assert!(
        moved("hotline_rtp_packets_received_total") >= 11.0,
        "{after}"
    );
    assert!(moved("hotline_argon2_hash_seconds_count") >= 1.0, "{after}");
    assert!(moved("hotline_call_setup_seconds_count") >= 1.0, "{after}");
    assert!(
        moved("hotline_rtp_send_lateness_seconds_count") >= 50.0,
        "{after}"
    );
    assert!(
        moved("hotline_db_call_seconds_count{call=\"verify_and_reset\"}") >= 1.0,
        "{after}"
    );
    let version = format!(
        "hotline_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&after, &version), 1.0, "{after}");
    assert!(after.contains("hotline_rtp_ports_free"), "{after}");
    // Nothing personal in any label.
    for secret in [CODE, PHONE, "84912345678", &call.call_id().to_string()] {
        assert!(!after.contains(secret), "{secret} in the metrics");
    }
    hotline.server.shutdown().await;
}

#[tokio::test]
async fn a_taken_http_port_stops_start_up_naming_the_key() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = base_config(format!("sqlite://{}", dir.path().join("h.db").display()));
    config.http.listen = taken.local_addr().expect("addr");
    let error = match Server::start(config).await {
        Ok(_) => panic!("started on a taken port"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("http.listen"), "{error}");
}
