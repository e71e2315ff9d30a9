//! The media pump: a few tasks, each driving the RTP of many calls on one shared 20 ms clock.
//!
//! A task and a timer per call cost a timer wake-up, a task switch and an epoll readiness event
//! for every frame sent and every packet received — about 150 scheduler operations per call per
//! second, which was most of the service's CPU once hashing was set aside (docs/performance.md).
//! Here each shard wakes once per 20 ms and, for each of its calls in turn, takes the call's
//! commands, reads what the caller sent since the last tick and sends the call's next frame.
//! The sockets are plain non-blocking ones that epoll never sees: two system calls per call per
//! tick is all the work left.
//!
//! ```text
//!  MediaPump::spawn ──Session──▶ shard 0 ─┐ every 20 ms: for each session
//!                               shard 1 ─┤   commands → recv (until empty) → send one frame
//!                               …        ─┘
//! ```
//!
//! The order of a shard's sessions never changes between ticks, so each call's frames leave
//! 20 ms apart even when sending a whole shard takes milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tracing::debug;

use super::pacer::Pacer;
use super::prompts::PromptLibrary;
use super::session::{Scratch, Session};

/// The shards, and the prompts every session plays from.
#[derive(Debug)]
pub struct MediaPump {
    shards: Vec<mpsc::UnboundedSender<Session>>,
    next: AtomicUsize,
    library: Arc<PromptLibrary>,
}

impl MediaPump {
    /// Starts `shards` shard tasks (0: one per tokio worker thread). Must run inside a tokio
    /// runtime. A shard ends once the pump is dropped and its last session has ended.
    pub fn start(shards: usize, library: Arc<PromptLibrary>) -> MediaPump {
        let count = match shards {
            0 => tokio::runtime::Handle::current().metrics().num_workers(),
            n => n,
        };
        let shards = (0..count.max(1))
            .map(|_| {
                let (arrivals, queue) = mpsc::unbounded_channel();
                tokio::spawn(run_shard(queue, Arc::clone(&library)));
                arrivals
            })
            .collect();
        MediaPump {
            shards,
            next: AtomicUsize::new(0),
            library,
        }
    }

    /// The prompts the sessions play.
    pub fn library(&self) -> &Arc<PromptLibrary> {
        &self.library
    }

    /// Hands `session` to the next shard, round robin.
    pub(super) fn add(&self, session: Session) {
        let shard = self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        // A shard that is gone drops the session: its events channel closes and the call ends
        // as a call whose media died, which is what it is.
        let _ = self.shards[shard].send(session);
    }
}

async fn run_shard(mut arrivals: mpsc::UnboundedReceiver<Session>, library: Arc<PromptLibrary>) {
    let mut sessions: Vec<Session> = Vec::new();
    let mut scratch = Scratch::default();
    let mut pacer = Pacer::new(Instant::now());
    let mut open = true;
    loop {
        if sessions.is_empty() {
            // Nothing to send: sleep until a call arrives instead of ticking for nobody.
            if !open {
                break;
            }
            match arrivals.recv().await {
                Some(session) => sessions.push(session),
                None => break,
            }
            pacer = Pacer::new(Instant::now());
        }
        tokio::select! {
            biased;
            arrival = arrivals.recv(), if open => match arrival {
                Some(session) => sessions.push(session),
                None => open = false,
            },
            () = sleep_until(pacer.deadline()) => {
                let now = Instant::now();
                sessions.retain_mut(|session| session.tick(&library, &mut scratch, now));
                let skipped = pacer.sent(Instant::now());
                if skipped > 0 {
                    debug!(skipped, calls = sessions.len(), "media shard woke up late; frames skipped");
                    for session in &mut sessions {
                        session.skip_frames(skipped);
                    }
                }
            }
        }
    }
    debug!("media shard stopped");
}
