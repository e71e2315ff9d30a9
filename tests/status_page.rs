//! The status page (issue 11, item 3) as a browser shows it: after real calls (a reset, a
//! mismatch, a caller locked out, one call still up), Debian's headless Chromium loads `/`;
//! the numbers in its DOM equal what the database says through the operator's own commands
//! (`hotline cdr export`, `cdr report`, `audit export`), no number, code, Call-ID or password
//! of those calls is on the page, and its screenshot is the chart, not a blank page.
//!
//! `STATUS_PAGE_SCREENSHOT=FILE` keeps the screenshot, to look at.
//!
//! Without /usr/bin/chromium (build.rs looks for it) the test is compiled as ignored, with the
//! package to install; `.ci/run` installs it and fails if it was ignored.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use hotline::domain::{Clip, Prompt};
use hotline::media::Codec;
use support::binary::{export, stdout_of};
use support::chromium::{Screenshot, dump_dom, screenshot};
use support::hotline_harness::{Call, DTMF_PT, Hotline, WAIT, start};
use support::http_get::{get, sample};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use tokio::time::{Instant, sleep};

const CODE: &str = "0123456789";
const OWNER: &str = "0912345678";
const STRANGER: &str = "0987654321";
const WAITING: &str = "0911222333";

/// The figures of the hourly table: `calls, resets, mismatches, lockouts` per `data-hour`.
type Hours = BTreeMap<String, [i64; 4]>;

const FIELDS: [&str; 4] = ["calls", "resets", "mismatches", "lockouts"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(chromium_tests),
    ignore = "needs Chromium: apt-get install chromium, then touch build.rs and cargo test again"
)]
async fn chromium_shows_the_databases_figures_and_no_personal_data() {
    // One failure locks a calling number out: the stranger's second call is refused.
    let hotline = start(|config| config.security.max_failures_per_caller = 1).await;
    hotline.add_account(CODE, OWNER, None).await;
    let ((password, owner), stranger) = tokio::join!(
        reset_call(&hotline),
        ended_call(&hotline, STRANGER, true, Prompt::Mismatch)
    );
    let locked_out = ended_call(&hotline, STRANGER, false, Prompt::TooManyAttempts).await;
    let waiting = hotline
        .place_call(WAITING, None, Codec::Pcmu, DTMF_PT)
        .await;
    waiting.wait_hearing(Clip::Prompt(Prompt::Welcome)).await;
    calls_in_progress_until(&hotline, 1).await;

    let url = format!("http://{}/", hotline.server.http_addr());
    let dom = dump_dom(&url).await;
    let db_url = &hotline.config.database.url;

    // Now, on this node.
    assert_eq!(text_of(&dom, "calls-up"), "1", "{dom}");
    assert_eq!(text_of(&dom, "readiness"), "ready");
    assert_eq!(text_of(&dom, "node"), hotline.config.node.id.as_str());

    // The last 24 hours: each hour as the CDR export has it, bucketed by local clock hour here.
    let shown = hours(&dom);
    assert_eq!(shown.len(), 24, "{dom}");
    let expected = hours_of_export(&hotline, &export(db_url));
    for (hour, figures) in &shown {
        let want = expected.get(hour).copied().unwrap_or_default();
        assert_eq!(*figures, want, "hour {hour}\n{dom}");
    }
    let totals = totals(&dom);
    assert_eq!(
        totals,
        [4, 1, 1, 1],
        "a reset, a mismatch, a lock-out, one call up"
    );
    assert_eq!(totals, expected.values().fold([0; 4], add), "{expected:?}");
    // ... and as `hotline cdr report --by outcome` and the audit count them.
    let by_outcome = report_column(db_url, &["--by", "outcome"], 1);
    assert_eq!(by_outcome.values().sum::<i64>(), totals[0]);
    assert_eq!(by_outcome.get("reset"), Some(&totals[1]));
    assert_eq!(by_outcome.get("mismatch"), Some(&totals[2]));
    assert_eq!(by_outcome.get("too_many_attempts"), Some(&totals[3]));
    let audit = stdout_of(db_url, &["audit", "export"]);
    assert_eq!(
        audit.matches(",reset,").count() as i64,
        totals[1],
        "{audit}"
    );
    assert_eq!(
        audit.matches(",mismatch,").count() as i64,
        totals[2],
        "{audit}"
    );

    // Today, as `hotline cdr report --by day` bills the day the page names.
    let day = attribute_of(&dom, "today", "data-day");
    let period = ["--by", "day", "--since", &day, "--until", &day];
    let calls = report_column(db_url, &period, 1);
    let minutes = report_column(db_url, &period, 2);
    let amount = report_column(db_url, &period, 3);
    let of_day = |column: &BTreeMap<String, i64>| column.get(&day).copied().unwrap_or(0);
    assert_eq!(number(&text_of(&dom, "today-calls")), of_day(&calls));
    assert_eq!(number(&text_of(&dom, "today-minutes")), of_day(&minutes));
    // Unless the test ran across local midnight, all four calls are today's.
    if expected.keys().all(|hour| hour.starts_with(&day)) {
        assert_eq!(of_day(&calls), 4, "the call still up counts");
        assert_eq!(
            of_day(&minutes),
            3,
            "a started minute each for the three that ended"
        );
    }
    let shown_amount = text_of(&dom, "today-amount");
    assert_eq!(shown_amount, format!("{} VND", thousands(of_day(&amount))));

    // Nothing personal: no number in any form, no code, no Call-ID, no password.
    let mut secrets = vec![CODE.to_owned(), password];
    for number in [OWNER, STRANGER, WAITING] {
        secrets.extend([
            number.to_owned(),
            format!("+84{}", &number[1..]),
            number[1..].to_owned(),
        ]);
    }
    for call in [&owner, &stranger, &locked_out, &waiting] {
        secrets.push(call.call_id().as_str().to_owned());
    }
    for secret in &secrets {
        assert!(
            !dom.contains(secret.as_str()),
            "{secret} is on the page:\n{dom}"
        );
    }

    // What a person sees: a 1280×900 picture with the chart's bars in it.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("status.png");
    screenshot(&url, &file, 1280, 900).await;
    if let Some(keep) = std::env::var_os("STATUS_PAGE_SCREENSHOT") {
        std::fs::copy(&file, keep).expect("keep the screenshot");
    }
    let shot = Screenshot::read(&file);
    assert_eq!((shot.width, shot.height), (1280, 900));
    let calls_blue = shot.count_near([0x4c, 0x78, 0xa8], 6);
    let lockout_red = shot.count_near([0xe4, 0x57, 0x56], 6);
    assert!(
        calls_blue > 200,
        "{calls_blue} pixels of the calls' blue in {file:?}"
    );
    assert!(
        lockout_red > 50,
        "{lockout_red} pixels of the lock-outs' red"
    );
    let white = shot.count_near([0xff, 0xff, 0xff], 0);
    assert!(white < 1280 * 900 * 99 / 100, "a blank page");

    drop(waiting);
    hotline.server.shutdown().await;
}

/// A database that fails the page's queries (here its CDR table renamed away under the running
/// node) gives the page with the node's own figures, a note, and 503; back to 200 once it is back.
#[tokio::test]
async fn without_its_figures_the_page_says_the_database_is_unreachable_and_answers_503() {
    use sqlx::Connection;
    let hotline = start(|_| {}).await;
    let http = hotline.server.http_addr();
    let page = get(http, "/").await.expect("GET /");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains("database-unreachable"));

    let mut db = sqlx::SqliteConnection::connect(&hotline.config.database.url)
        .await
        .expect("a second connection");
    sqlx::query("ALTER TABLE cdrs RENAME TO cdrs_away")
        .execute(&mut db)
        .await
        .expect("rename");
    let page = get(http, "/").await.expect("GET /");
    assert_eq!(page.status, 503, "{}", page.body);
    assert!(
        page.body
            .contains("id=\"database-unreachable\">Database unreachable"),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"calls-up\">0<"), "{}", page.body);
    assert!(
        !page.body.contains("id=\"hours\""),
        "no zeros in place of figures"
    );

    sqlx::query("ALTER TABLE cdrs_away RENAME TO cdrs")
        .execute(&mut db)
        .await
        .expect("rename back");
    db.close().await.expect("close");
    let page = get(http, "/").await.expect("GET /");
    assert_eq!(page.status, 200, "{}", page.body);
    hotline.server.shutdown().await;
}

/// The owner resets the password, hears it once and hangs up; the call and what was read.
async fn reset_call(hotline: &Hotline) -> (String, Call) {
    let mut call = hotline.place_call(OWNER, None, Codec::Pcmu, DTMF_PT).await;
    call.barge_in(&format!("{CODE}#")).await;
    let password = call.wait_first_reading().await;
    call.hang_up().await;
    hotline.closed_cdr(&call).await;
    (password, call)
}

/// A call from `caller` that keys the owner's code (a mismatch) when `keys`, else just listens
/// (a locked-out caller is refused before any code), and hangs up once it hears `outcome`:
/// the outcome is the CDR's by then.
async fn ended_call(hotline: &Hotline, caller: &str, keys: bool, outcome: Prompt) -> Call {
    let mut call = hotline.place_call(caller, None, Codec::Pcmu, DTMF_PT).await;
    if keys {
        call.barge_in(&format!("{CODE}#")).await;
    }
    call.wait_hearing(Clip::Prompt(outcome)).await;
    call.hang_up().await;
    hotline.closed_cdr(&call).await;
    call
}

/// Waits until `/metrics` counts `calls` calls in progress (a call's slot is freed just after
/// its CDR is closed).
async fn calls_in_progress_until(hotline: &Hotline, calls: u32) {
    let until = Instant::now() + WAIT;
    loop {
        let metrics = get(hotline.server.http_addr(), "/metrics")
            .await
            .expect("GET /metrics");
        if sample(&metrics.body, "hotline_calls_in_progress") == f64::from(calls) {
            return;
        }
        assert!(
            Instant::now() < until,
            "calls in progress never {calls}:\n{}",
            metrics.body
        );
        sleep(Duration::from_millis(50)).await;
    }
}

/// The export's CDRs per local clock hour (`billing.utc_offset`), as the page's `data-hour`.
fn hours_of_export(hotline: &Hotline, rows: &[Vec<String>]) -> Hours {
    let offset = hotline.config.billing.utc_offset.get();
    let format = format_description!(
        "[year]-[month]-[day]T[hour]:00[offset_hour sign:mandatory]:[offset_minute]"
    );
    let mut hours = Hours::new();
    for row in rows {
        // call_id,caller,called,answered_at,ended_at,duration_ms,billed_minutes,amount,currency,outcome,node
        let answered = OffsetDateTime::parse(&row[3], &Rfc3339).expect("answered_at");
        let hour = answered.to_offset(offset).format(format).expect("hour");
        let counts = hours.entry(hour).or_default();
        counts[0] += 1;
        match row[9].as_str() {
            "reset" => counts[1] += 1,
            "mismatch" => counts[2] += 1,
            "too_many_attempts" => counts[3] += 1,
            _ => {}
        }
    }
    hours
}

/// `hotline cdr report ARGS --csv`: the group's column against column `column`.
fn report_column(db_url: &str, args: &[&str], column: usize) -> BTreeMap<String, i64> {
    let csv = stdout_of(db_url, &[&["cdr", "report"], args, &["--csv"]].concat());
    csv.lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            (cells[0].to_owned(), cells[column].parse().unwrap_or(0))
        })
        .collect()
}

/// The text inside the element with `id` (up to its first child tag).
fn text_of(dom: &str, id: &str) -> String {
    let tag = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in\n{dom}"));
    let start = tag + dom[tag..].find('>').expect("the tag ends") + 1;
    let end = start + dom[start..].find('<').expect("an end tag");
    dom[start..end].trim().to_owned()
}

/// The value of `attribute` on the element with `id`.
fn attribute_of(dom: &str, id: &str, attribute: &str) -> String {
    let tag_start = dom[..dom.find(&format!("id=\"{id}\"")).expect("the element")]
        .rfind('<')
        .expect("its tag");
    let tag = &dom[tag_start..tag_start + dom[tag_start..].find('>').expect("tag end")];
    let key = format!("{attribute}=\"");
    let value_start = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {attribute} in {tag}"))
        + key.len();
    tag[value_start..value_start + tag[value_start..].find('"').expect("quote")].to_owned()
}

/// Every row of the hourly table.
fn hours(dom: &str) -> Hours {
    dom.split("<tr data-hour=\"")
        .skip(1)
        .map(|row| {
            let hour = row[..row.find('"').expect("hour")].to_owned();
            let row = &row[..row.find("</tr>").expect("row end")];
            (hour, fields(row))
        })
        .collect()
}

/// The totals row.
fn totals(dom: &str) -> [i64; 4] {
    let start = dom.find("id=\"totals\"").expect("the totals");
    let row = &dom[start..start + dom[start..].find("</tr>").expect("row end")];
    fields(row)
}

fn fields(row: &str) -> [i64; 4] {
    FIELDS.map(|field| {
        let key = format!("data-field=\"{field}\">");
        let start = row
            .find(&key)
            .unwrap_or_else(|| panic!("no {field} in {row}"))
            + key.len();
        number(&row[start..start + row[start..].find('<').expect("cell end")])
    })
}

/// A number as the page prints it (`12,000`).
fn number(text: &str) -> i64 {
    text.replace(',', "")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{text:?} is not a number"))
}

fn thousands(n: i64) -> String {
    hotline::store::thousands(n.unsigned_abs())
}

fn add(a: [i64; 4], b: &[i64; 4]) -> [i64; 4] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]
}
