//! The real `hotline` binary, as the tests that start, signal or kill it drive it: one database,
//! SIP on a port the OS picks, JSON logs to read where it listens.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{Instant, sleep};

/// How long a test waits for the server to log a line or to exit.
const WAIT: Duration = Duration::from_secs(60);

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

/// A running `hotline serve`: where SIP listens, and its log as it comes (read on a thread of its
/// own, so the server never blocks on a full pipe).
pub struct Serving {
    pub child: Child,
    pub sip: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serving {
    /// Spawns `command` (a [`hotline`] command with `serve` and any settings) and reads its log
    /// until it says where SIP listens.
    pub fn start(mut command: Command) -> Serving {
        let mut child = command
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hotline serve");
        let mut lines = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        let mut seen = Vec::new();
        let sip = loop {
            let line = lines
                .next()
                .expect("hotline serve exited before listening")
                .expect("read log");
            let listening = line.contains("hotline is listening");
            let addr = json_field(&line, "sip_addr");
            seen.push(line);
            if listening && let Some(addr) = addr {
                break addr.parse().expect("sip_addr is a socket address");
            }
        };
        let log = Arc::new(Mutex::new(seen));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        Serving { child, sip, log }
    }

    /// The first log line so far that contains `text`.
    pub fn log_line(&self, text: &str) -> Option<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .find(|line| line.contains(text))
            .cloned()
    }

    /// The first log line that contains `text`, waiting up to a minute for it.
    pub async fn wait_log(&self, text: &str) -> String {
        let until = Instant::now() + WAIT;
        loop {
            if let Some(line) = self.log_line(text) {
                return line;
            }
            assert!(Instant::now() < until, "no {text:?} in the log");
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends SIGTERM, as systemd or Kubernetes stop a node.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// How the process ended, waiting up to a minute for it.
    pub async fn exit_status(&mut self) -> ExitStatus {
        let until = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < until, "hotline serve did not exit");
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// The whole log so far, one line per line.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
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
