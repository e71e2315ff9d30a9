//! `/`: the status page for an operator (src/http/status_page.rs draws it). The node's own
//! figures (calls up, readiness) come from memory; the last 24 hours and today's billing from
//! the database, read afresh on every load (two grouped queries on the CDRs' answer-time index,
//! src/store/status.rs), so what the page says is what `hotline cdr report` would.
//!
//! A database that does not answer within [`FIGURES_TIMEOUT`] gives the page without its
//! figures, a clear note, and 503: a probe or a person sees at once that something is wrong.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use time::OffsetDateTime;
use tracing::debug;

use super::Endpoints;
use super::status_page::{StatusView, render};
use crate::domain::{LocalOffset, NodeId};
use crate::store::Store;

/// How long the page waits for its figures. The pool gives up acquiring a connection after 5 s
/// (src/store/backend.rs); this also bounds a query that hangs on a connection it has.
pub const FIGURES_TIMEOUT: Duration = Duration::from_secs(5);

/// What the status page needs besides the admission gate.
#[derive(Clone)]
pub struct StatusSource {
    pub store: Store,
    pub node: NodeId,
    /// `billing.utc_offset`: where the page's hours and day start.
    pub offset: LocalOffset,
    /// `billing.currency`.
    pub currency: String,
}

/// No script runs and nothing loads from elsewhere: the policy says so to the browser too.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'";

pub async fn status_page(State(endpoints): State<Endpoints>) -> Response {
    let source = &endpoints.status;
    let now = OffsetDateTime::now_utc();
    let read = tokio::time::timeout(
        FIGURES_TIMEOUT,
        source.store.status_figures(now, source.offset),
    )
    .await;
    let figures = match read {
        Ok(Ok(figures)) => Some(figures),
        // The database monitor logs the outage (and /readyz says it); a page refreshed every
        // few seconds would only repeat it.
        Ok(Err(e)) => {
            debug!(error = %e, "status page: no figures from the database");
            None
        }
        Err(_) => {
            debug!(timeout = ?FIGURES_TIMEOUT, "status page: the database did not answer in time");
            None
        }
    };
    let view = StatusView {
        node: source.node.as_str(),
        version: env!("CARGO_PKG_VERSION"),
        calls_up: endpoints.admission.calls_in_progress(),
        not_ready: endpoints
            .admission
            .refusal()
            .map(|refusal| refusal.reason.to_string()),
        offset: source.offset,
        generated_at: now,
        currency: &source.currency,
        figures: figures.as_ref(),
    };
    let status = match figures {
        Some(_) => StatusCode::OK,
        None => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut response = (status, Html(render(&view))).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
