//! hotline on PostgreSQL, end to end: a real call over loopback whose reset is stored, heard and
//! billed with its node, and the admin commands as operators run them. Needs a server: these
//! tests run when `POSTGRES_TEST_URL` is set at build time (build.rs), and are listed as ignored,
//! with how to run them, when it is not.

mod support;

use std::process::{Command, Output};

use hotline::domain::{Outcome, Prompt};
use hotline::media::Codec;
use support::hotline_harness::{DTMF_PT, prompts_of, spoken_password, start};
use support::postgres::fresh_database;

const CODE: &str = "0123456789";
const PHONE: &str = "0912345678";
const PEPPER: &str = "postgres-test-pepper-0123456789";

fn hotline(db_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HOTLINE_DATABASE__URL", db_url)
        .env("HOTLINE_SECURITY__PEPPER", PEPPER)
        .env("HOTLINE_NODE__ID", "node-test")
        .env("HOTLINE_LOG__FILTER", "warn")
        .output()
        .expect("the hotline binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set POSTGRES_TEST_URL to an admin URL (scripts/postgres-cluster start DIR prints one) and rebuild"
)]
async fn a_reset_call_on_postgresql_is_heard_stored_and_billed_with_its_node() {
    let url = fresh_database().await;
    let hotline = start(|config| {
        config.database.url = url.clone();
        config.node.id = hotline::domain::NodeId::parse("node-pg").unwrap();
    })
    .await;
    hotline.add_account(CODE, PHONE, None).await;

    let mut call = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    call.barge_in(&format!("{CODE}#")).await;
    call.wait_for_bye().await;
    let heard = call.heard();
    assert_eq!(
        prompts_of(&heard),
        [Prompt::NewPassword, Prompt::RepeatPassword, Prompt::Goodbye]
    );
    let password = spoken_password(&heard);
    assert!(hotline.password_verifies(CODE, &password).await);

    let cdr = hotline.closed_cdr(&call).await;
    assert_eq!(cdr.outcome, Some(Outcome::Reset));
    assert_eq!((cdr.billed_minutes, cdr.amount), (Some(1), Some(1000)));
    assert_eq!(cdr.node.as_deref(), Some("node-pg"));
}

#[tokio::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "needs PostgreSQL: set POSTGRES_TEST_URL to an admin URL (scripts/postgres-cluster start DIR prints one) and rebuild"
)]
async fn every_admin_command_works_on_postgresql() {
    let url = fresh_database().await;
    let run = |args: &[&str]| {
        let out = hotline(&url, args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let migrated = run(&["db", "migrate"]);
    assert!(migrated.contains("up to date"), "{migrated}");
    assert!(
        !migrated.contains("hotline:hotline@"),
        "no password: {migrated}"
    );
    run(&["accounts", "add", "--code", CODE, "--phone", PHONE]);
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("accounts.csv");
    std::fs::write(
        &csv,
        "code,phone,personal_id,registered\n1111111111,0987654321,,true\n2222222222,not-a-phone,,\n",
    )
    .unwrap();
    let out = hotline(&url, &["accounts", "import", csv.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "one bad row: {}",
        text(&out.stderr)
    );
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(report.contains("line 3"), "{report}");
    let out = hotline(
        &url,
        &[
            "accounts",
            "check-password",
            "--code",
            CODE,
            "--password",
            "123456",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "no password was ever set");
    let export = run(&["cdr", "export"]);
    assert_eq!(
        export,
        "call_id,caller,called,answered_at,ended_at,duration_ms,billed_minutes,amount,currency,outcome,node\n"
    );
}

#[test]
fn a_postgresql_password_never_appears_in_an_error() {
    // Nothing listens on port 9 of loopback: the command must fail and say which database.
    let url = "postgres://hotline:s3cret-pw@127.0.0.1:9/hotline";
    let out = hotline(url, &["db", "migrate"]);
    assert!(!out.status.success());
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains("127.0.0.1:9"), "names the database: {said}");
    assert!(!said.contains("s3cret-pw"), "{said}");
    let out = hotline("mysql://root:s3cret-pw@db/x", &["db", "migrate"]);
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        !out.status.success() && said.contains("database.url"),
        "{said}"
    );
    assert!(!said.contains("s3cret-pw"), "{said}");
}
