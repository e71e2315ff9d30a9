//! A plain HTTP/1.1 GET over a fresh connection, enough to read hotline's `/metrics`,
//! `/healthz` and `/readyz` and Prometheus's query API on loopback (`Connection: close`, the
//! body read to the end), so the tests need no HTTP client crate.
#![allow(dead_code)]

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response's status and body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: String,
}

/// GETs `path_and_query` from `addr`.
pub async fn get(addr: SocketAddr, path_and_query: &str) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr).await?;
    let request =
        format!("GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        unchunk(body)
    } else {
        body.to_owned()
    };
    Ok(Response { status, body })
}

/// The body of a `Transfer-Encoding: chunked` response.
fn unchunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    body
}

/// The value of the sample `series` (name with its labels exactly as rendered, e.g.
/// `hotline_calls_ended_total{outcome="reset"}`) in a Prometheus text exposition; 0 when absent.
pub fn sample(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .filter_map(|line| line.strip_prefix(series))
        .filter_map(|rest| rest.strip_prefix(' '))
        .filter_map(|value| value.trim().parse().ok())
        .next()
        .unwrap_or(0.0)
}
