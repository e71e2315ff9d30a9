//! The node's metrics: what each part records, and the one recorder they record into.
//!
//! Recording goes through the `metrics` facade; `metrics-exporter-prometheus` keeps the values
//! and renders them in the Prometheus text format for `/metrics` (src/http). Counters and gauges
//! there are atomics behind an `Arc`, so a stored handle costs one atomic add.
//!
//! The per-packet RTP path records nothing here at all: it adds to the media pump's atomics
//! ([`MediaCounters`]) and [`NodeGauges::update`] copies them into the exporter when Prometheus
//! scrapes. Values that are cheaper to read than to track (calls in progress, ports free) are
//! read at scrape time too.
//!
//! No label carries a phone number, a code or a Call-ID: every label value is one of a fixed set
//! of `&'static str` (outcomes, limits, key sources, SIP methods and statuses).

mod sip_line;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::admission::AdmissionGate;
use crate::domain::Outcome;
use crate::media::{MediaCounters, PortPool};

pub use sip_line::{Direction, sip_datagram};

pub const CALLS_IN_PROGRESS: &str = "hotline_calls_in_progress";
pub const CALLS_ENDED: &str = "hotline_calls_ended_total";
pub const CALL_SETUP: &str = "hotline_call_setup_seconds";
pub const RESETS: &str = "hotline_resets_total";
pub const LOCKOUTS: &str = "hotline_lockouts_total";
pub const HASH_QUEUE: &str = "hotline_argon2_queue_depth";
pub const HASH_TIME: &str = "hotline_argon2_hash_seconds";
pub const KEYS: &str = "hotline_keys_received_total";
pub const SIP_REQUESTS: &str = "hotline_sip_requests_total";
pub const SIP_RESPONSES: &str = "hotline_sip_responses_total";
pub const RTP_SENT: &str = "hotline_rtp_packets_sent_total";
pub const RTP_RECEIVED: &str = "hotline_rtp_packets_received_total";
pub const RTP_DROPPED: &str = "hotline_rtp_packets_dropped_total";
pub const RTP_LATENESS: &str = "hotline_rtp_send_lateness_seconds";
pub const RTP_PORTS_FREE: &str = "hotline_rtp_ports_free";
pub const DB_QUERY_TIME: &str = "hotline_db_call_seconds";
pub const DB_ERRORS: &str = "hotline_db_call_errors_total";
pub const BUILD_INFO: &str = "hotline_build_info";

/// The process's one recorder (the `metrics` facade has one global recorder), installed by the
/// first server to start; later servers in the same process (tests) share it.
pub fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(install).clone()
}

fn install() -> PrometheusHandle {
    // Buckets: set-up is a few ms to seconds (answer delay); hashing ~30 ms; a late RTP slot is
    // µs to a whole 20 ms frame; database calls ms.
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(CALL_SETUP.into()),
            &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(HASH_TIME.into()),
                &[0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0],
            )
        })
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(RTP_LATENESS.into()),
                &[0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02],
            )
        })
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(DB_QUERY_TIME.into()),
                &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0],
            )
        });
    let recorder = match builder {
        Ok(builder) => builder.build_recorder(),
        // Only an empty bucket list is refused, and none above is empty.
        Err(_) => PrometheusBuilder::new().build_recorder(),
    };
    let handle = recorder.handle();
    // Fails only if another recorder is installed already (an embedding program's): then ours
    // renders nothing, which is what that program asked for.
    let _ = metrics::set_global_recorder(recorder);
    describe();
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    handle
}

fn describe() {
    describe_gauge!(
        CALLS_IN_PROGRESS,
        "Calls holding a slot now (ringing or answered)."
    );
    describe_counter!(CALLS_ENDED, "Calls ended, by outcome (the CDR's outcome).");
    describe_histogram!(
        CALL_SETUP,
        "Time from the INVITE reaching the call task to our 200 OK being sent."
    );
    describe_counter!(RESETS, "Passwords reset and read to the caller.");
    describe_counter!(
        LOCKOUTS,
        "Verifications refused by a limit (caller, code or account)."
    );
    describe_gauge!(
        HASH_QUEUE,
        "Argon2id jobs waiting for or on a hashing thread."
    );
    describe_histogram!(
        HASH_TIME,
        "Time one argon2id hash or verification takes on its thread."
    );
    describe_counter!(
        KEYS,
        "Keys (DTMF digits) received, by source: rfc4733, info, inband."
    );
    describe_counter!(SIP_REQUESTS, "SIP requests received, by method.");
    describe_counter!(SIP_RESPONSES, "SIP responses sent, by status code.");
    describe_counter!(RTP_SENT, "RTP packets sent to callers.");
    describe_counter!(
        RTP_RECEIVED,
        "RTP packets received from callers and admitted."
    );
    describe_counter!(
        RTP_DROPPED,
        "RTP packets dropped: from a source strict or symmetric RTP refuses, or SRTP that fails authentication or replay checks."
    );
    describe_histogram!(
        RTP_LATENESS,
        "How late each 2 ms media slot (RTP send) ran."
    );
    describe_gauge!(
        RTP_PORTS_FREE,
        "RTP ports of media.rtp_port_min..=max not held by a call."
    );
    describe_histogram!(
        DB_QUERY_TIME,
        "Time of the call path's store calls (verify_and_reset, open_cdr, record_tick, close_cdr), each one or more queries."
    );
    describe_counter!(
        DB_ERRORS,
        "Store calls of the call path that failed, by call."
    );
    describe_gauge!(
        BUILD_INFO,
        "Always 1; the version label is the running build."
    );
}

/// What is read, not counted, at each scrape.
#[derive(Clone)]
pub struct NodeGauges {
    pub admission: AdmissionGate,
    pub ports: PortPool,
    pub media: Arc<MediaCounters>,
}

impl NodeGauges {
    /// Copies the current values into the recorder, just before it renders.
    pub fn update(&self) {
        gauge!(CALLS_IN_PROGRESS).set(self.admission.calls_in_progress() as f64);
        gauge!(RTP_PORTS_FREE).set(self.ports.free() as f64);
        counter!(RTP_SENT).absolute(self.media.rtp_sent());
        counter!(RTP_RECEIVED).absolute(self.media.rtp_received());
        counter!(RTP_DROPPED).absolute(self.media.rtp_dropped());
        counter!(KEYS, "source" => "rfc4733").absolute(self.media.keys_rfc4733());
        counter!(KEYS, "source" => "inband").absolute(self.media.keys_inband());
    }
}

pub fn call_ended(outcome: Outcome) {
    counter!(CALLS_ENDED, "outcome" => outcome.as_str()).increment(1);
}

pub fn call_set_up(took: Duration) {
    histogram!(CALL_SETUP).record(took.as_secs_f64());
}

pub fn password_reset() {
    counter!(RESETS).increment(1);
}

/// Which limit refused a verification (src/store/limits.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Caller,
    Code,
    Account,
}

pub fn locked_out(limit: Limit) {
    let limit = match limit {
        Limit::Caller => "caller",
        Limit::Code => "code",
        Limit::Account => "account",
    };
    counter!(LOCKOUTS, "limit" => limit).increment(1);
}

/// A key that came in a SIP INFO (the RTP sources are counted by the media pump).
pub fn info_key_received() {
    counter!(KEYS, "source" => "info").increment(1);
}

/// An argon2id job entered (`+1`) or left (`-1`) the hashing queue.
pub fn hash_queue(change: f64) {
    gauge!(HASH_QUEUE).increment(change);
}

pub fn hashed(took: Duration) {
    histogram!(HASH_TIME).record(took.as_secs_f64());
}

/// A store call of the call path took `took`; `ok` is false when it failed.
pub fn store_call(call: &'static str, took: Duration, ok: bool) {
    histogram!(DB_QUERY_TIME, "call" => call).record(took.as_secs_f64());
    if !ok {
        counter!(DB_ERRORS, "call" => call).increment(1);
    }
}

/// A handle for the media slots' lateness, made once per shard.
pub fn rtp_lateness() -> metrics::Histogram {
    histogram!(RTP_LATENESS)
}
