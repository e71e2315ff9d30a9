//! A crash in the middle of a call: the real binary is killed with SIGKILL while a call is up,
//! and the next start closes the CDR it left open from its billing ticks, so the minute the
//! caller was billed is kept, once.

mod support;

use std::net::SocketAddr;
use std::process::Child;
use std::time::Duration;

use support::binary::{Serving, export, hotline};
use support::sip_uac::{Uac, sdp_offer};

fn serve(db_url: &str) -> (Child, SocketAddr) {
    let mut command = hotline(db_url);
    command.arg("serve");
    let serving = Serving::start(command);
    (serving.child, serving.sip)
}

#[tokio::test]
async fn a_call_cut_by_a_crash_is_closed_from_its_ticks_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("h.db").display());

    let (mut server, sip_addr) = serve(&db_url);
    let mut uac = Uac::new(sip_addr).await;
    let rtp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let offer = sdp_offer(
        rtp.local_addr().unwrap().port(),
        "0 101",
        &["0 PCMU/8000", "101 telephone-event/8000"],
    );
    uac.invite("0912345678", None, &[], &offer).await;
    uac.wait_response(200, "INVITE", Duration::from_secs(10))
        .await;
    uac.ack().await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    server.kill().expect("SIGKILL the server");
    server.wait().unwrap();

    let rows = export(&db_url);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let open = &rows[0];
    assert_eq!(open[0], uac.call_id);
    assert_eq!(
        open[4], "",
        "the CDR is still open after the crash: {open:?}"
    );

    // The next start closes it: one tick was written at answer, so one minute is billed.
    let (mut server, _) = serve(&db_url);
    server.kill().unwrap();
    server.wait().unwrap();
    let rows = export(&db_url);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let closed = &rows[0];
    assert_eq!(closed[9], "interrupted", "{closed:?}");
    assert_eq!(closed[6], "1", "billed minutes: {closed:?}");
    assert_eq!(closed[7], "1000", "amount: {closed:?}");
    assert_eq!(closed[8], "VND");
    assert_ne!(closed[4], "", "ended_at is set: {closed:?}");

    // A third start finds nothing left to close: the minute is not billed twice.
    let (mut server, _) = serve(&db_url);
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(export(&db_url), rows);
}
