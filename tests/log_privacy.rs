//! Logs without personal data (issue 11, item 4): the real binary serves real calls — a reset and
//! a mismatch placed by `hotline tools load` — with every SIP message logged at debug, and the
//! whole JSON log is searched for the callers' numbers and the codes they keyed. With
//! `log.personal_data = true` the same search finds them, so the check can fail.

mod support;

use std::time::Duration;

use support::binary::{Serving, hotline};

const OWNER: &str = "0912345678";
const STRANGER: &str = "0987654321";
const CODE: &str = "0123456789";

/// Every form a number or code could take in a log line.
const PERSONAL: [&str; 6] = [
    "0912345678",
    "84912345678",
    "0987654321",
    "84987654321",
    "0123456789",
    // The personal ID on the account.
    "001085012345",
];

fn serve(db_url: &str, personal_data: bool) -> Serving {
    let mut command = hotline(db_url);
    command
        .arg("serve")
        .env("HOTLINE_LOG__FILTER", "debug")
        .env("HOTLINE_SIP__LOG_MESSAGES", "true")
        .env("HOTLINE_LOG__PERSONAL_DATA", personal_data.to_string());
    Serving::start(command)
}

/// Serves one reset and one mismatch; the whole log.
fn log_of_two_calls(personal_data: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("h.db").display());
    let accounts = dir.path().join("accounts.csv");
    std::fs::write(
        &accounts,
        format!("code,phone,personal_id,registered\n{CODE},{OWNER},001085012345,true\n"),
    )
    .unwrap();
    let import = hotline(&db_url)
        .args(["accounts", "import"])
        .arg(&accounts)
        .output()
        .unwrap();
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    // The load tool's callers: the owner, then a stranger keying the same code.
    let callers = dir.path().join("callers.csv");
    std::fs::write(
        &callers,
        format!(
            "code,phone,personal_id,registered\n{CODE},{OWNER},,true\n{CODE},{STRANGER},,true\n"
        ),
    )
    .unwrap();

    let mut served = serve(&db_url, personal_data);
    let load = hotline(&db_url)
        .args([
            "tools",
            "load",
            "--target",
            &served.sip.to_string(),
            "--calls",
            "2",
            "--concurrent",
            "1",
        ])
        .arg("--accounts")
        .arg(&callers)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&load.stdout).into_owned();
    assert!(report.contains("reset 1"), "{report}");
    assert!(report.contains("mismatch 1"), "{report}");

    // SIGTERM, then the log is complete once the process has exited.
    let _ = std::process::Command::new("kill")
        .arg(served.child.id().to_string())
        .status();
    served.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    served.log_text()
}

#[test]
fn no_number_or_code_is_logged_in_full_unless_asked_for() {
    // The two runs side by side: each is a full reset call, some 20 s of speech.
    let shown = std::thread::spawn(|| log_of_two_calls(true));
    let log = log_of_two_calls(false);
    assert!(log.contains("INVITE sip:"), "the SIP messages were logged");
    let incoming = log
        .lines()
        .find(|l| l.contains("incoming call") && l.contains("0912****78"));
    assert!(
        incoming.is_some(),
        "the masked caller is on the incoming call's line:\n{log}"
    );
    for personal in PERSONAL {
        assert!(!log.contains(personal), "{personal} in the log:\n{log}");
    }

    let log = shown.join().unwrap();
    assert!(
        log.contains(OWNER) && log.contains(STRANGER),
        "log.personal_data shows them"
    );
}
