//! The operator's HTTP listener (`http.listen`): `/metrics` for Prometheus, `/healthz` and
//! `/readyz` for orchestrators and load balancers, and `/`, a status page for a person. It runs
//! beside SIP on the same runtime, is started by the server once the prompts are loaded and the
//! database opened, and stops with it.
//!
//! Readiness is the admission gate's (src/admission.rs), the same answer the SIP side gives an
//! OPTIONS probe: a node Kamailio would take out of rotation is not ready for anyone else either.

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::warn;

mod status;
mod status_chart;
mod status_page;

pub use status::StatusSource;

use crate::admission::AdmissionGate;
use crate::telemetry::NodeGauges;

/// What the endpoints read.
#[derive(Clone)]
pub struct Endpoints {
    pub admission: AdmissionGate,
    pub gauges: NodeGauges,
    pub metrics: PrometheusHandle,
    pub status: StatusSource,
}

/// The listener, serving until stopped.
pub struct HttpServer {
    local_addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Binds `listen` and serves in a task of its own. A port taken or an address not ours is an
    /// error at start-up, naming `http.listen`, rather than a node running unobserved.
    pub async fn start(listen: SocketAddr, endpoints: Endpoints) -> anyhow::Result<HttpServer> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("http.listen {listen}"))?;
        let local_addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let app = router(endpoints);
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stopped.cancelled().await })
                .await;
            if let Err(e) = served {
                warn!("the HTTP listener stopped: {e}");
            }
        });
        Ok(HttpServer {
            local_addr,
            stop,
            task,
        })
    }

    /// Where it listens (with the real port when `http.listen` asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops taking connections and waits for the requests in flight.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

fn router(endpoints: Endpoints) -> Router {
    Router::new()
        .route("/", get(status::status_page))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(endpoints)
}

async fn metrics(State(endpoints): State<Endpoints>) -> impl IntoResponse {
    endpoints.gauges.update();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        endpoints.metrics.render(),
    )
}

/// The process runs and its runtime answers: nothing more (a restart would not fix a database).
async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when new calls would be taken as far as the node itself goes: the database answers and
/// the node is not draining. The prompts are loaded before this listener starts (a node without
/// them does not start at all), so a listener that answers has them. Overload (`sip.max_calls`)
/// is not unreadiness: it passes within seconds and SIP answers it with 503 per call.
async fn readyz(State(endpoints): State<Endpoints>) -> (StatusCode, String) {
    match endpoints.admission.refusal() {
        None => (StatusCode::OK, "ready\n".into()),
        Some(refusal) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", refusal.reason),
        ),
    }
}
