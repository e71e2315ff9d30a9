//! A throw-away self-signed certificate for 127.0.0.1, made by `openssl` (Debian's `openssl`
//! package, installed by .ci/run) in a temporary directory: the TLS tests' server identity, and
//! the only certificate their clients trust.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

pub struct TestCertificate {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestCertificate {
    /// A P-256 certificate for `IP:127.0.0.1`, valid for a day, trusted by itself.
    pub fn generate() -> TestCertificate {
        let dir = tempfile::tempdir().expect("temporary directory");
        let certificate = dir.path().join("cert.pem");
        let private_key = dir.path().join("key.pem");
        let status = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            // A server's own certificate, not a CA (rustls refuses a CA as a server's).
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&private_key)
            .arg("-out")
            .arg(&certificate)
            .output()
            .expect("openssl must be installed (apt-get install openssl)");
        assert!(status.status.success(), "openssl failed: {status:?}");
        TestCertificate {
            certificate,
            private_key,
            _dir: dir,
        }
    }
}
