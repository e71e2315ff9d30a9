//! The audit of verifications (issue 11, item 5) from real calls: each verification a caller
//! makes is kept with its node, Call-ID, caller, what was keyed and the result, and an operator
//! reads it back with `hotline audit export` and `hotline audit top` (the real binary).

mod support;

use hotline::media::Codec;
use support::binary::{hotline as hotline_binary, stdout_of};
use support::hotline_harness::{DTMF_PT, start};

const CODE: &str = "0123456789";
const PHONE: &str = "0912345678";
const STRANGER: &str = "0987654321";

fn audit(db_url: &str, args: &[&str]) -> String {
    stdout_of(db_url, &[&["audit"], args].concat())
}

#[tokio::test]
async fn a_reset_and_a_mismatch_are_audited_and_read_back_by_caller_and_code() {
    let hotline = start(|_| {}).await;
    hotline.add_account(CODE, PHONE, None).await;

    let mut owner = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    owner.barge_in(&format!("{CODE}#")).await;
    owner.wait_for_bye().await;
    let mut stranger = hotline
        .place_call(STRANGER, None, Codec::Pcmu, DTMF_PT)
        .await;
    stranger.barge_in(&format!("{CODE}#")).await;
    stranger.wait_for_bye().await;
    // The audit row follows the call's CDR writes; the closed CDR means it is stored.
    hotline.closed_cdr(&owner).await;
    hotline.closed_cdr(&stranger).await;

    let db_url = &hotline.config.database.url;
    let node = hotline.config.node.id.as_str();
    let export = audit(db_url, &["export"]);
    let lines: Vec<&str> = export.lines().collect();
    assert_eq!(lines[0], "at,node,call_id,caller,keyed,result,attempt");
    assert_eq!(lines.len(), 3, "{export}");
    assert!(
        lines[1].ends_with(&format!(
            ",{node},{},+84912345678,{CODE},reset,1",
            owner.call_id().as_str()
        )),
        "{export}"
    );
    assert!(
        lines[2].ends_with(&format!(
            ",{node},{},+84987654321,{CODE},mismatch,1",
            stranger.call_id().as_str()
        )),
        "{export}"
    );

    let strangers = audit(db_url, &["export", "--caller", "+84 98 765 4321"]);
    assert_eq!(strangers.lines().count(), 2, "{strangers}");
    assert!(strangers.contains(",mismatch,"), "{strangers}");
    let today = audit(db_url, &["export", "--code", CODE, "--since", "0d"]);
    assert_eq!(today.lines().count(), 1, "since now: nothing yet\n{today}");

    let top = audit(db_url, &["top", "--by", "code"]);
    let row: Vec<&str> = top.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..6], [CODE, "2", "1", "1", "0", "0"], "{top}");
    let callers = audit(db_url, &["top", "--limit", "1"]);
    assert_eq!(callers.lines().count(), 2, "the limit holds:\n{callers}");
}

#[test]
fn a_bad_filter_is_named_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("hotline.db").display());
    for (args, flag) in [
        (["audit", "export", "--caller", "12"], "--caller"),
        (["audit", "export", "--code", "123"], "--code"),
        (["audit", "top", "--since", "monday"], "--since"),
    ] {
        let out = hotline_binary(&db_url).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{args:?}: {err}");
    }
}
