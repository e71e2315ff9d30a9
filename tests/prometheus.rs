//! The metrics as a real Prometheus sees them (issue 11, item 1): after a real call, the node's
//! `/metrics` passes `promtool check metrics`, and a Prometheus of the test's own (Debian's
//! `prometheus` package, on a free loopback port, its data in a temporary directory) scrapes the
//! node every second and answers a query for a counter the call moved.
//!
//! Without both tools (build.rs looks for them) these tests are compiled as ignored, with the
//! package to install; `.ci/run` installs it and fails if they were ignored.

mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hotline::media::Codec;
use support::hotline_harness::{DTMF_PT, Hotline, WAIT, start};
use support::http_get::get;
use tokio::time::{Instant, sleep};

const CODE: &str = "0123456789";
const PHONE: &str = "0912345678";

/// A full reset call, to its closed CDR.
async fn reset_call(hotline: &Hotline) {
    hotline.add_account(CODE, PHONE, None).await;
    let mut call = hotline.place_call(PHONE, None, Codec::Pcmu, DTMF_PT).await;
    call.barge_in(&format!("{CODE}#")).await;
    call.wait_first_reading().await;
    call.hang_up().await;
    hotline.closed_cdr(&call).await;
}

fn tool(name: &str) -> Command {
    let found = Command::new("which")
        .arg(name)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{name} is missing: apt-get install prometheus (Debian's package has prometheus and promtool)"
    );
    Command::new(name)
}

#[tokio::test]
#[cfg_attr(
    not(prometheus_tests),
    ignore = "needs Prometheus: apt-get install prometheus, then touch build.rs and cargo test again"
)]
async fn promtool_accepts_the_metrics_after_a_call() {
    let hotline = start(|_| {}).await;
    reset_call(&hotline).await;
    let metrics = get(hotline.server.http_addr(), "/metrics")
        .await
        .expect("GET /metrics");
    assert_eq!(metrics.status, 200);

    let mut check = tool("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start promtool");
    check
        .stdin
        .take()
        .expect("stdin")
        .write_all(metrics.body.as_bytes())
        .expect("feed promtool");
    let checked = check.wait_with_output().expect("promtool");
    assert!(
        checked.status.success(),
        "promtool check metrics failed:\n{}{}\n--- metrics:\n{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr),
        metrics.body
    );
    hotline.server.shutdown().await;
}

/// A Prometheus process, stopped (and reaped) when dropped.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts a Prometheus that scrapes `target` every second.
    fn scraping(target: SocketAddr) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: hotline\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let addr = free_tcp_port();
        let child = tool("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on now (the OS's pick, released for Prometheus to take).
fn free_tcp_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr")
}

/// The value of the instant query `query`'s first series, once Prometheus has one.
async fn query_value(prometheus: SocketAddr, query: &str) -> Option<f64> {
    let response = get(prometheus, &format!("/api/v1/query?query={query}"))
        .await
        .ok()?;
    let json: serde_json::Value = serde_json::from_str(&response.body).ok()?;
    json["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[tokio::test]
#[cfg_attr(
    not(prometheus_tests),
    ignore = "needs Prometheus: apt-get install prometheus, then touch build.rs and cargo test again"
)]
async fn a_real_prometheus_scrapes_the_node_and_reads_the_reset_back() {
    let hotline = start(|_| {}).await;
    reset_call(&hotline).await;
    let prometheus = Prometheus::scraping(hotline.server.http_addr());

    // `hotline_resets_total` with the job's label: what a dashboard would ask.
    let query = "hotline_resets_total%7Bjob%3D%22hotline%22%7D";
    let until = Instant::now() + WAIT;
    let resets = loop {
        if let Some(value) = query_value(prometheus.addr, query).await {
            break value;
        }
        assert!(
            Instant::now() < until,
            "Prometheus at {} never had {query}",
            prometheus.addr
        );
        sleep(Duration::from_millis(250)).await;
    };
    assert!(resets >= 1.0, "hotline_resets_total = {resets}");
    drop(prometheus);
    hotline.server.shutdown().await;
}
