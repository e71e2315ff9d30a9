//! The database goes away (issue 9, item 6), with a whole hotline in-process.
//!
//! Two honest ways to take a SQLite database away, since a local file cannot lose its server:
//! - the node's health probe is put behind a switch the test can cut (`start_with_switch`): the
//!   gate, the 503s and the recovery are the node's real code, only the ping's answer is faked;
//! - the test holds SQLite's write lock (`BEGIN IMMEDIATE` on a connection of its own), so every
//!   write of the node really fails, after the store's busy timeout, as writes to an unreachable
//!   server would: verification and billing meet real errors.

mod support;

use std::time::Duration;

use hotline::admission::Admission;
use hotline::domain::{Clip, Outcome, Prompt};
use hotline::media::Codec;
use hotline::store::AuditFilter;
use sqlx::Connection;
use support::hotline_harness::{DTMF_PT, WAIT, prompts_of, start, start_with_switch};
use support::sip_uac::{SipMsg, Uac, sdp_offer};
use tokio::time::{Instant, sleep};

const CODE: &str = "0123456789";
const PHONE: &str = "0912345678";

/// Probes with OPTIONS every 100 ms until the answer is `status`; returns that answer.
async fn options_until(uac: &mut Uac, status: u16) -> SipMsg {
    let until = Instant::now() + WAIT;
    loop {
        uac.options().await;
        let answer = uac.final_response("OPTIONS", WAIT).await;
        if answer.status() == Some(status) {
            return answer;
        }
        assert!(Instant::now() < until, "OPTIONS never answered {status}");
        sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn while_the_database_is_unreachable_invites_and_options_get_503_until_it_returns() {
    let (hotline, database) = start_with_switch(|_| {}).await;
    hotline.add_account(CODE, PHONE, None).await;
    let sip = hotline.server.sip_addr();
    let mut probe = Uac::new(sip).await;
    options_until(&mut probe, 200).await;

    database.cut(true);
    let refused = options_until(&mut probe, 503).await;
    assert_eq!(
        refused.header("Retry-After").as_deref().map(str::trim),
        Some("5")
    );
    assert!(
        refused
            .header("Warning")
            .unwrap_or_default()
            .contains("database"),
        "{}",
        refused.head()
    );
    assert_eq!(
        hotline.server.admission().admission(),
        Admission::DatabaseUnreachable
    );
    let mut caller = Uac::new(sip).await;
    let offer = sdp_offer(
        40_000,
        "0 101",
        &["0 PCMU/8000", "101 telephone-event/8000"],
    );
    caller.invite(PHONE, None, &[], &offer).await;
    let answer = caller.final_response("INVITE", WAIT).await;
    assert_eq!(answer.status(), Some(503), "{}", answer.head());
    assert_eq!(
        answer.header("Retry-After").as_deref().map(str::trim),
        Some("5")
    );
    caller.ack_failure().await;

    // The database is back: the node takes calls again by itself, within 10 s.
    database.cut(false);
    let back = Instant::now();
    options_until(&mut probe, 200).await;
    assert!(
        back.elapsed() < Duration::from_secs(10),
        "{:?}",
        back.elapsed()
    );
    let mut call = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    call.wait_hearing(Clip::Prompt(Prompt::Welcome)).await;
    call.hang_up().await;
    assert_eq!(
        hotline.closed_cdr(&call).await.outcome,
        Some(Outcome::Abandoned)
    );
}

/// A call answered while the database refuses writes: its CDR and first-minute tick cannot be
/// written; at verification the caller hears "system busy", no password is spoken and the old
/// one stays valid; once the database takes writes again, the CDR, its tick and its close are all
/// written, billed for the call's own duration.
#[tokio::test]
async fn without_a_database_the_caller_hears_system_busy_and_the_billing_is_written_later() {
    let hotline = start(|_| {}).await;
    hotline.add_account(CODE, PHONE, None).await;
    let old_password = hotline.preset_password(CODE, PHONE).await;

    // Take the database's write lock and keep it.
    let mut lock = sqlx::SqliteConnection::connect(&hotline.config.database.url)
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut lock)
        .await
        .unwrap();

    let mut call = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    let id = call.call_id();
    call.barge_in(&format!("{CODE}#")).await;
    call.wait_for_bye().await;
    let heard = prompts_of(&call.heard());
    assert!(
        heard.ends_with(&[Prompt::SystemBusy, Prompt::Goodbye]),
        "heard {heard:?}"
    );
    assert!(!heard.contains(&Prompt::NewPassword), "heard {heard:?}");
    assert!(
        call.heard().iter().all(|c| !matches!(c, Clip::Digit(_))),
        "a digit was spoken: {:?}",
        call.heard()
    );
    // Every write waits out the store's 5 s busy timeout and fails; the writer keeps them and
    // retries. Past that timeout, nothing is stored yet…
    sleep(Duration::from_secs(6)).await;
    assert_eq!(hotline.store.cdr(&id).await.unwrap(), None);

    // …until the database takes writes again.
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    lock.close().await.unwrap();
    let cdr = hotline.closed_cdr(&call).await;
    assert_eq!(cdr.outcome, Some(Outcome::Error));
    assert_eq!(cdr.billed_minutes, Some(1));
    assert_eq!(hotline.store.ticks(&id).await.unwrap(), [1]);
    // The duration is the call's, not the time the rows waited for the database.
    let waited_ms = i64::try_from(call.answered.elapsed().as_millis()).unwrap();
    assert!(cdr.duration_ms.unwrap() + 5000 < waited_ms, "{cdr:?}");
    assert!(hotline.password_verifies(CODE, &old_password).await);
    // The verification's audit waited in the same queue, before the close.
    let mut audit = Vec::new();
    hotline
        .store
        .export_verifications(&AuditFilter::default(), &mut audit)
        .await
        .unwrap();
    let audit = String::from_utf8(audit).unwrap();
    let expected = format!(",{},+84912345678,{CODE},system_busy,1", id.as_str());
    assert!(audit.contains(&expected), "{audit}");
}
