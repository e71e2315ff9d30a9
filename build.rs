//! Tests that need a server or a tool the machine may not have are compiled as ignored when it
//! is missing, so `cargo test` stays green on a bare machine and its output lists every test it
//! could not run, with the reason and the way to run it. `.ci/run` provides both and fails if
//! any such test was ignored.
//!
//! - PostgreSQL: when `POSTGRES_TEST_URL` names a server (an admin URL: each test creates a
//!   database of its own there).
//! - Prometheus: when `prometheus` and `promtool` (Debian's `prometheus` package) are on the
//!   PATH. Found once per build of the crate: after installing them, `touch build.rs`.
//! - Chromium: when Debian's `/usr/bin/chromium` is there (tests/status_page.rs); likewise
//!   found once per build.

fn main() {
    println!("cargo::rerun-if-env-changed=POSTGRES_TEST_URL");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo::rustc-check-cfg=cfg(prometheus_tests)");
    println!("cargo::rustc-check-cfg=cfg(chromium_tests)");
    if std::env::var_os("POSTGRES_TEST_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
    if on_path("prometheus") && on_path("promtool") {
        println!("cargo::rustc-cfg=prometheus_tests");
    }
    if std::path::Path::new(CHROMIUM).is_file() {
        println!("cargo::rustc-cfg=chromium_tests");
    }
}

/// Where Debian's `chromium` package puts the browser (tests/support/chromium.rs runs it).
const CHROMIUM: &str = "/usr/bin/chromium";

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}
