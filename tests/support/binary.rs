//! The real `hotline` binary, as the tests that start, signal or kill it drive it: one database,
//! SIP on a port the OS picks, JSON logs to read where it listens.
#![allow(dead_code)]

use std::process::Command;

/// The pepper every binary-driven test uses.
pub const PEPPER: &str = "binary-test-pepper-0123456789";

/// `hotline` on `db_url`, ready for `serve` or an admin command.
pub fn hotline(db_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hotline"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HOTLINE_DATABASE__URL", db_url)
        .env("HOTLINE_SECURITY__PEPPER", PEPPER)
        .env("HOTLINE_SIP__LISTEN", "127.0.0.1:0")
        .env("HOTLINE_HTTP__LISTEN", "127.0.0.1:0")
        .env("HOTLINE_LOG__FILTER", "info")
        .env("HOTLINE_LOG__FORMAT", "json");
    command
}

/// A string field of a JSON log line, without a JSON parser (the values we read are plain).
pub fn json_field(line: &str, field: &str) -> Option<String> {
    let key = format!("\"{field}\":\"");
    let start = line.find(&key)? + key.len();
    let end = line[start..].find('"')? + start;
    Some(line[start..end].to_owned())
}

/// What `hotline ARGS` prints on `db_url`, once it has exited successfully.
pub fn stdout_of(db_url: &str, args: &[&str]) -> String {
    let out = hotline(db_url).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "hotline {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The CDRs as `hotline cdr export` writes them, header skipped.
pub fn export(db_url: &str) -> Vec<Vec<String>> {
    stdout_of(db_url, &["cdr", "export"])
        .lines()
        .skip(1)
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect()
}
