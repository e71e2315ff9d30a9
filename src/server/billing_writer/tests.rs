//! The writer against a fake database that fails when told to: on a paused clock, so the
//! retries' pauses cost no real time.

use std::sync::{Arc, Mutex};

use super::*;

/// Fails every write while `failing`, counts attempts, and keeps what was written.
#[derive(Default)]
struct FlakySink {
    failing: Mutex<bool>,
    unreachable: bool,
    attempts: Mutex<u32>,
    written: Mutex<Vec<String>>,
}

impl FlakySink {
    fn fail(&self, failing: bool) {
        *self.failing.lock().unwrap() = failing;
    }

    fn written(&self) -> Vec<String> {
        self.written.lock().unwrap().clone()
    }

    fn attempts(&self) -> u32 {
        *self.attempts.lock().unwrap()
    }
}

impl BillingSink for FlakySink {
    fn write<'a>(&'a self, _call_id: &'a CallId, write: &'a BillingWrite) -> WriteFuture<'a> {
        Box::pin(async move {
            *self.attempts.lock().unwrap() += 1;
            if *self.failing.lock().unwrap() {
                return Err(if self.unreachable {
                    StoreError::Database(sqlx::Error::PoolTimedOut)
                } else {
                    StoreError::Database(sqlx::Error::Protocol("busy".into()))
                });
            }
            self.written.lock().unwrap().push(write.to_string());
            Ok(())
        })
    }
}

fn tick(minute: u32) -> BillingWrite {
    BillingWrite::Tick {
        minute,
        at: OffsetDateTime::UNIX_EPOCH,
    }
}

fn close() -> BillingWrite {
    BillingWrite::Close {
        ended_at: OffsetDateTime::UNIX_EPOCH,
        outcome: Outcome::Abandoned,
    }
}

struct Setup {
    sink: Arc<FlakySink>,
    gate: AdmissionGate,
    last_chance: CancellationToken,
    tasks: TaskTracker,
    writer: BillingWriter,
}

fn setup(sink: FlakySink) -> Setup {
    let sink = Arc::new(sink);
    let gate = AdmissionGate::new();
    let last_chance = CancellationToken::new();
    let tasks = TaskTracker::new();
    let writer = BillingWriter::spawn(
        sink.clone(),
        CallId::new("call-1".to_string()),
        gate.clone(),
        last_chance.clone(),
        &tasks,
    );
    Setup {
        sink,
        gate,
        last_chance,
        tasks,
        writer,
    }
}

#[tokio::test(start_paused = true)]
async fn a_tick_that_fails_is_written_later_and_nothing_overtakes_it() {
    let s = setup(FlakySink::default());
    s.sink.fail(true);
    s.writer.write(tick(2));
    s.writer.write(tick(3));
    // Several retries while the database refuses: nothing written, nothing skipped.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(s.sink.attempts() >= 3, "{} attempts", s.sink.attempts());
    assert!(s.sink.written().is_empty());
    s.sink.fail(false);
    s.writer.write(close());
    drop(s.writer);
    s.tasks.close();
    s.tasks.wait().await;
    assert_eq!(
        s.sink.written(),
        ["tick of minute 2", "tick of minute 3", "CDR close"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_lost_connection_closes_the_admission_gate() {
    let s = setup(FlakySink {
        unreachable: true,
        ..FlakySink::default()
    });
    s.sink.fail(true);
    s.writer.write(tick(2));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        s.gate.admission(),
        crate::admission::Admission::DatabaseUnreachable
    );
}

#[tokio::test(start_paused = true)]
async fn at_shutdown_pending_writes_get_one_final_try() {
    let s = setup(FlakySink::default());
    s.sink.fail(true);
    s.writer.write(tick(2));
    s.writer.write(close());
    drop(s.writer);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The database is back just as the process ends: the last try writes everything.
    s.sink.fail(false);
    s.last_chance.cancel();
    s.tasks.close();
    s.tasks.wait().await;
    assert_eq!(s.sink.written(), ["tick of minute 2", "CDR close"]);
}

#[tokio::test(start_paused = true)]
async fn a_writer_with_nothing_pending_ends_at_shutdown_without_writing() {
    let s = setup(FlakySink::default());
    s.last_chance.cancel();
    s.tasks.close();
    s.tasks.wait().await;
    assert_eq!(s.sink.attempts(), 0);
    drop(s.writer);
}
