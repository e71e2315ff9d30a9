//! `hotline serve` stopped by SIGTERM with a call in progress, as systemd or Kubernetes stop it:
//! the real binary drains, hangs up what is left (BYE, billed), closes the CDR and exits 0.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::binary::{Serving, export, hotline};
use support::sip_uac::{Uac, sdp_offer};

const WAIT: Duration = Duration::from_secs(60);

fn serve(db_url: &str, drain_seconds: u64) -> Serving {
    let mut command = hotline(db_url);
    command
        .env("HOTLINE_SERVER__DRAIN_SECONDS", drain_seconds.to_string())
        .arg("serve");
    Serving::start(command)
}

async fn place_call(sip: SocketAddr) -> Uac {
    let mut uac = Uac::new(sip).await;
    let offer = sdp_offer(
        40_002,
        "0 101",
        &["0 PCMU/8000", "101 telephone-event/8000"],
    );
    uac.invite("0912345678", None, &[], &offer).await;
    uac.wait_response(200, "INVITE", WAIT).await;
    uac.ack().await;
    uac
}

fn assert_billed_interrupted(rows: &[Vec<String>], call_id: &str) {
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row[0], call_id);
    assert_ne!(row[4], "", "ended_at is set: {row:?}");
    assert_eq!(row[6], "1", "billed minutes: {row:?}");
    assert_eq!(row[7], "1000", "amount: {row:?}");
    assert_eq!(row[9], "interrupted", "{row:?}");
}

#[tokio::test]
async fn sigterm_drains_hangs_up_at_the_deadline_bills_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("h.db").display());
    let mut server = serve(&db_url, 1);
    let mut call = place_call(server.sip).await;

    server.sigterm();
    let started = server.wait_log("draining").await;
    assert!(started.contains("\"calls\":1"), "{started}");
    call.wait_request("BYE", WAIT).await;
    assert!(server.exit_status().await.success());
    let finished = server.wait_log("drain finished").await;
    assert!(finished.contains("\"hung_up\":1"), "{finished}");
    assert_billed_interrupted(&export(&db_url), &call.call_id);
}

#[tokio::test]
async fn a_second_sigterm_ends_the_drain_at_once_still_billing() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("h.db").display());
    let mut server = serve(&db_url, 300);
    let mut call = place_call(server.sip).await;

    server.sigterm();
    server.wait_log("draining").await;
    // The dispatcher's probe now gets 503.
    let mut probe = Uac::new(server.sip).await;
    probe.options().await;
    probe.wait_response(503, "OPTIONS", WAIT).await;

    server.sigterm();
    call.wait_request("BYE", WAIT).await;
    assert!(server.exit_status().await.success());
    assert_billed_interrupted(&export(&db_url), &call.call_id);
}
