//! The admin commands as operators and the QA suite run them: the real `hotline` binary, its
//! output and its exit status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

const PEPPER: &str = "cli-test-pepper-0123456789";

/// A scratch directory with its own database; every command runs against it.
struct Workspace {
    dir: TempDir,
}

impl Workspace {
    fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn db_url(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("hotline.db").display())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn hotline(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hotline"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("HOTLINE_DATABASE__URL", self.db_url())
            .env("HOTLINE_SECURITY__PEPPER", PEPPER)
            .env("HOTLINE_LOG__FILTER", "warn")
            .output()
            .expect("the hotline binary runs")
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn db_migrate_creates_the_database() {
    let ws = Workspace::new();
    let out = ws.hotline(&["db", "migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(ws.path("hotline.db").is_file());
    // A second run finds nothing to do.
    assert!(ws.hotline(&["db", "migrate"]).status.success());
}

#[test]
fn accounts_add_normalises_the_phone_and_refuses_bad_values() {
    let ws = Workspace::new();
    let out = ws.hotline(&[
        "accounts",
        "add",
        "--code",
        "0123456789",
        "--phone",
        "091-234-5678",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("+84912345678"), "{}", stdout(&out));

    let out = ws.hotline(&[
        "accounts",
        "add",
        "--code",
        "12345",
        "--phone",
        "0912345678",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--code"), "{}", stderr(&out));

    let out = ws.hotline(&[
        "accounts",
        "add",
        "--code",
        "0123456789",
        "--phone",
        "hello",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--phone"), "{}", stderr(&out));

    let out = ws.hotline(&[
        "accounts",
        "add",
        "--code",
        "0123456780",
        "--phone",
        "0912345679",
        "--personal-id",
        "001085012345",
        "--unregistered",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn import_reports_each_bad_row_with_its_line_and_is_idempotent() {
    let ws = Workspace::new();
    let csv = ws.path("accounts.csv");
    std::fs::write(
        &csv,
        "code,phone,personal_id,registered\n\
         0123456789,0912345678,,true\n\
         0123456780,+84 98 765 4321,001085012345,false\n\
         12345,0912345678,,true\n\
         0123456781,not-a-phone,,true\n\
         0123456782,0912345670,,maybe\n",
    )
    .unwrap();
    let csv_arg = csv.to_str().unwrap();

    let out = ws.hotline(&["accounts", "import", csv_arg]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a bad row makes the import exit 1"
    );
    let errors = stderr(&out);
    assert!(errors.contains("line 4: code"), "{errors}");
    assert!(errors.contains("line 5: phone"), "{errors}");
    assert!(errors.contains("line 6: registered"), "{errors}");
    assert!(stdout(&out).contains("2 imported"), "{}", stdout(&out));

    let again = ws.hotline(&["accounts", "import", csv_arg]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stdout(&again).contains("0 imported, 2 unchanged"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn import_refuses_a_file_with_the_wrong_header() {
    let ws = Workspace::new();
    let csv = ws.path("accounts.csv");
    std::fs::write(&csv, "phone,code\n0912345678,0123456789\n").unwrap();
    let out = ws.hotline(&["accounts", "import", csv.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("code,phone,personal_id,registered"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_password_answers_with_its_exit_status() {
    let ws = Workspace::new();
    assert!(
        ws.hotline(&[
            "accounts",
            "add",
            "--code",
            "0123456789",
            "--phone",
            "0912345678"
        ])
        .status
        .success()
    );
    // No password was ever set: nothing verifies.
    let out = ws.hotline(&[
        "accounts",
        "check-password",
        "--code",
        "0123456789",
        "--password",
        "279419",
    ]);
    assert_eq!(out.status.code(), Some(1));
    // Not six digits: a usage error, not a silent "no".
    let out = ws.hotline(&[
        "accounts",
        "check-password",
        "--code",
        "0123456789",
        "--password",
        "12ab",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("six digits"), "{}", stderr(&out));
}

#[test]
fn cdr_export_starts_with_the_agreed_header() {
    let ws = Workspace::new();
    let out = ws.hotline(&["cdr", "export"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "call_id,caller,called,answered_at,ended_at,duration_ms,billed_minutes,amount,currency,outcome,node\n"
    );
}

#[test]
fn prompts_check_accepts_the_shipped_clips_and_names_a_bad_one() {
    let ws = Workspace::new();
    let out = ws.hotline(&["prompts", "check", "prompts/vi"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("digits/9.wav"), "{}", stdout(&out));

    let copy = ws.path("prompts");
    copy_dir(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/prompts/vi")),
        &copy,
    );
    std::fs::remove_file(copy.join("goodbye.wav")).unwrap();
    write_wav(&copy.join("menu.wav"), 16000, 1);
    write_wav(&copy.join("digits/3.wav"), 8000, 2);
    let out = ws.hotline(&["prompts", "check", copy.to_str().unwrap()]);
    assert!(!out.status.success());
    let errors = stderr(&out);
    assert!(
        errors.contains("goodbye.wav") && errors.contains("missing"),
        "{errors}"
    );
    assert!(
        errors.contains("menu.wav") && errors.contains("16000"),
        "{errors}"
    );
    assert!(
        errors.contains("digits/3.wav") && errors.contains("channels"),
        "{errors}"
    );
}

#[test]
fn serve_refuses_bad_prompts_and_bad_config_in_one_line() {
    let ws = Workspace::new();
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .args(["serve"])
        .env("HOTLINE_DATABASE__URL", ws.db_url())
        .env("HOTLINE_PROMPTS__DIR", ws.path("nowhere"))
        .env("HOTLINE_SIP__LISTEN", "127.0.0.1:0")
        .env("HOTLINE_HTTP__LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("welcome.wav"), "{}", stderr(&out));

    let out = ws.hotline_with_env(&["serve"], "HOTLINE_MEDIA__RTP_PORT_MIN", "lots");
    assert_eq!(out.status.code(), Some(2));
    let message = stderr(&out);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(message.contains("media.rtp_port_min"), "{message}");
}

impl Workspace {
    fn hotline_with_env(&self, args: &[&str], key: &str, value: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hotline"))
            .args(args)
            .env("HOTLINE_DATABASE__URL", self.db_url())
            .env(key, value)
            .output()
            .unwrap()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn write_wav(path: &Path, sample_rate: u32, channels: u16) {
    let spec = hound::WavSpec {
        channels,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..1600 {
        writer.write_sample(((i % 50) * 200) as i16).unwrap();
    }
    writer.finalize().unwrap();
}
