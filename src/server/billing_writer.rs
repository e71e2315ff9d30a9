//! One call's billing rows — the CDR opened at answer, a tick at the start of every minute, the
//! CDR closed at hang-up — and the audit record of each verification, written in order beside
//! the call, and retried until they are stored.
//!
//! A call never waits for these writes: the caller keeps hearing prompts while the database is
//! away. A write that fails is kept, with everything queued after it, and tried again with a
//! growing pause; the values (the tick's time, the end time) are taken when the thing happened,
//! not when the row is finally written, so a late write bills the same as a prompt one. Every
//! write is idempotent (`ON CONFLICT DO NOTHING`, closing a closed CDR changes nothing), so a
//! write that succeeded but whose answer was lost is safe to repeat.
//!
//! When the process ends ([`BillingWriter::spawn`]'s `last_chance`), whatever is still pending
//! is tried one final time; what cannot be written then is logged by call id and kind, and the
//! next start closes the CDR from the ticks that made it (`Store::close_interrupted`).

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::admission::AdmissionGate;
use crate::domain::{CallId, Outcome};
use crate::store::{NewCdr, Store, StoreError, VerificationRecord};

/// One row (or pair of rows) to write.
#[derive(Clone, Debug)]
pub enum BillingWrite {
    /// The CDR, and the tick of minute 1, at answer.
    Open(NewCdr),
    /// Minute `minute` started at `at`.
    Tick { minute: u32, at: OffsetDateTime },
    /// The call ended at `ended_at`.
    Close {
        ended_at: OffsetDateTime,
        outcome: Outcome,
    },
    /// A verification, for the audit.
    Verification(VerificationRecord),
}

/// Names a write in a log line without any of its values (the caller's number stays out).
impl fmt::Display for BillingWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BillingWrite::Open(_) => f.write_str("CDR open"),
            BillingWrite::Tick { minute, .. } => write!(f, "tick of minute {minute}"),
            BillingWrite::Close { .. } => f.write_str("CDR close"),
            BillingWrite::Verification(v) => write!(f, "audit of verification {}", v.attempt),
        }
    }
}

type WriteFuture<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// Where billing rows go: the store, or a fake in tests.
pub trait BillingSink: Send + Sync + 'static {
    fn write<'a>(&'a self, call_id: &'a CallId, write: &'a BillingWrite) -> WriteFuture<'a>;
}

/// The store, with the tariff a CDR is closed at.
pub struct StoreSink {
    pub store: Store,
    pub rate_per_minute: u32,
    pub currency: String,
}

impl BillingSink for StoreSink {
    fn write<'a>(&'a self, call_id: &'a CallId, write: &'a BillingWrite) -> WriteFuture<'a> {
        Box::pin(async move {
            let started = tokio::time::Instant::now();
            let (call, written) = match write {
                BillingWrite::Open(cdr) => ("open_cdr", self.store.open_cdr(cdr).await),
                BillingWrite::Tick { minute, at } => (
                    "record_tick",
                    self.store.record_tick(call_id, *minute, *at).await,
                ),
                BillingWrite::Close { ended_at, outcome } => (
                    "close_cdr",
                    self.store
                        .close_cdr(
                            call_id,
                            *ended_at,
                            *outcome,
                            self.rate_per_minute,
                            &self.currency,
                        )
                        .await
                        .map(|_closed| ()),
                ),
                BillingWrite::Verification(record) => (
                    "record_verification",
                    self.store.record_verification(record).await,
                ),
            };
            crate::telemetry::store_call(call, started.elapsed(), written.is_ok());
            written
        })
    }
}

/// The first pause after a failed write; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(200);
/// Short enough that billing catches up within seconds of the database's return.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// A call's side of its writer: queue rows; they are written in this order. A clone goes with
/// a verification running beside the call, which queues its audit record when it is done.
#[derive(Clone)]
pub struct BillingWriter {
    queue: mpsc::UnboundedSender<BillingWrite>,
}

impl BillingWriter {
    /// Starts the writer of `call_id` on `tasks`. It ends once the call's handle is dropped and
    /// every row is written, or at `last_chance` after one final try.
    pub fn spawn(
        sink: std::sync::Arc<dyn BillingSink>,
        call_id: CallId,
        gate: AdmissionGate,
        last_chance: CancellationToken,
        tasks: &TaskTracker,
    ) -> BillingWriter {
        let (queue, writes) = mpsc::unbounded_channel();
        let writer = Writer {
            sink,
            call_id,
            gate,
            pending: VecDeque::new(),
        };
        tasks.spawn(writer.run(writes, last_chance));
        BillingWriter { queue }
    }

    pub fn write(&self, write: BillingWrite) {
        // The writer only stops before the call drops this handle at `last_chance`, when the
        // call has already been ended: nothing is lost that was not also logged.
        let _ = self.queue.send(write);
    }
}

struct Writer {
    sink: std::sync::Arc<dyn BillingSink>,
    call_id: CallId,
    gate: AdmissionGate,
    pending: VecDeque<BillingWrite>,
}

impl Writer {
    async fn run(
        mut self,
        mut writes: mpsc::UnboundedReceiver<BillingWrite>,
        last_chance: CancellationToken,
    ) {
        let mut pause = FIRST_PAUSE;
        loop {
            while let Ok(write) = writes.try_recv() {
                self.pending.push_back(write);
            }
            let Some(head) = self.pending.front() else {
                tokio::select! {
                    write = writes.recv() => match write {
                        Some(write) => self.pending.push_back(write),
                        None => return,
                    },
                    _ = last_chance.cancelled() => return self.final_attempt(writes).await,
                }
                continue;
            };
            let what = head.to_string();
            match self.sink.write(&self.call_id, head).await {
                Ok(()) => {
                    if pause > FIRST_PAUSE {
                        info!(call_id = %self.call_id, %what, "billing write stored after retrying");
                    }
                    self.pending.pop_front();
                    pause = FIRST_PAUSE;
                }
                Err(error) if is_permanent(&error) => {
                    warn!(call_id = %self.call_id, %what, %error, "billing write dropped: it can never succeed");
                    self.pending.pop_front();
                }
                Err(error) => {
                    if error.is_unreachable() && self.gate.database_unreachable() {
                        warn!(%error, "database unreachable: refusing new calls with 503");
                    }
                    if pause == FIRST_PAUSE {
                        warn!(call_id = %self.call_id, %what, %error, "billing write failed; retrying until it is stored");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = last_chance.cancelled() => return self.final_attempt(writes).await,
                    }
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
        }
    }

    /// The process is ending: each pending write gets one more try, in order.
    async fn final_attempt(mut self, mut writes: mpsc::UnboundedReceiver<BillingWrite>) {
        while let Ok(write) = writes.try_recv() {
            self.pending.push_back(write);
        }
        for write in &self.pending {
            if let Err(error) = self.sink.write(&self.call_id, write).await {
                warn!(call_id = %self.call_id, what = %write, %error, "billing write lost at shutdown; an open CDR is closed from its ticks at the next start");
            }
        }
    }
}

/// Errors no retry can fix: the values themselves are wrong.
fn is_permanent(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::TimeOutOfRange | StoreError::Corrupt { .. }
    )
}

#[cfg(test)]
mod tests;
