//! Tests that need a PostgreSQL server run when `POSTGRES_TEST_URL` names one (an admin
//! URL: each test creates a database of its own there). Without it they are compiled as ignored,
//! so `cargo test` stays green on a bare machine and its output lists every one it could not run,
//! with the reason and the way to run them. `.ci/run` starts a private cluster and sets it.

fn main() {
    println!("cargo::rerun-if-env-changed=POSTGRES_TEST_URL");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    if std::env::var_os("POSTGRES_TEST_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
