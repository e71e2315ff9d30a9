//! The media pump: a few shards (one thread each), each driving the RTP of many calls on one
//! shared 20 ms clock.
//!
//! A task and a timer per call cost a timer wake-up, a task switch and an epoll readiness event
//! for every frame sent and every packet received — about 150 scheduler operations per call per
//! second: nearly half of what a call cost the service before (docs/performance.md).
//! Here each shard wakes every 2 ms and serves one tenth of its calls (a slot): each call of the
//! slot in turn takes its commands and sends its next frame; then each reads what its caller
//! sent (every other tick, two packets per read) and times out keys whose end was lost.
//! The sockets are plain non-blocking ones that epoll never sees, and commands come through one
//! queue per shard: one `sendto` per call per tick and one `recvmmsg` every other tick is all
//! the work left.
//!
//! ```text
//!  MediaPump::spawn ──ToShard──▶ thread hotline-media-0 ─┐ every 2 ms, the next of 10 slots:
//!  MediaHandle ─────commands──▶ thread hotline-media-1 ─┤   each session: commands → one frame
//!                               …                      ─┘   then each: recvmmsg → keys
//! ```
//!
//! A call stays in its slot and its place in the slot, so its frames leave 20 ms apart.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::time::{Instant, sleep_until};
use tracing::{debug, warn};

use super::pacer::{FRAME_INTERVAL, Pacer};
use super::prompts::PromptLibrary;
use super::session::{Inbox, Scratch, Session, SessionId, ToShard};

/// How the media threads ask to be scheduled (`media.realtime_priority`, `media.thread_nice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadPriority {
    /// SCHED_FIFO at this priority (1–99) when the system allows it; 0: never real-time.
    pub realtime: u8,
    /// The nice value when not real-time.
    pub nice: i32,
}

impl ThreadPriority {
    /// Whatever the thread was given: the thread priority of the process, nothing asked.
    pub const INHERITED: ThreadPriority = ThreadPriority {
        realtime: 0,
        nice: 0,
    };

    /// Applies to the calling thread: real-time when asked for and allowed, else the nice
    /// value. Refusals are warnings, not errors: the thread still sends every frame, it is only
    /// less punctual when the machine is busy.
    fn apply_to_this_thread(self) {
        if self.realtime > 0 {
            match crate::os::set_this_threads_realtime(self.realtime) {
                Ok(()) => return,
                Err(e) => warn!(
                    priority = self.realtime,
                    nice = self.nice,
                    "media thread not real-time (media.realtime_priority), falls back to \
                     media.thread_nice: {e}; grant CAP_SYS_NICE or LimitRTPRIO"
                ),
            }
        }
        if self.nice != 0
            && let Err(e) = crate::os::set_this_threads_nice(self.nice)
        {
            warn!(
                nice = self.nice,
                "media thread keeps normal priority (media.thread_nice): {e}"
            );
        }
    }
}

/// The shards' doors: a new call's session goes through one of them.
#[derive(Debug)]
pub struct MediaPump {
    shards: Vec<mpsc::UnboundedSender<ToShard>>,
    next_shard: AtomicUsize,
    next_id: AtomicU64,
    counters: Arc<MediaCounters>,
}

/// What every session of the pump adds to, for the metrics: totals since start-up.
#[derive(Debug, Default)]
pub struct MediaCounters {
    /// RTP packets the calls' source filters dropped (strict and symmetric RTP).
    pub(super) rtp_dropped: AtomicU64,
    /// RTP packets sent to callers.
    pub(super) rtp_sent: AtomicU64,
    /// RTP packets received and admitted by the calls' source filters.
    pub(super) rtp_received: AtomicU64,
    /// Keys heard as RFC 4733 telephone-events.
    pub(super) keys_rfc4733: AtomicU64,
    /// Keys heard as tones in the audio.
    pub(super) keys_inband: AtomicU64,
}

impl MediaCounters {
    /// RTP packets dropped because they did not come from their call's source: strangers
    /// spraying the port range, and the first packets of callers behind NAT before the latch.
    pub fn rtp_dropped(&self) -> u64 {
        self.rtp_dropped.load(Ordering::Relaxed)
    }

    pub fn rtp_sent(&self) -> u64 {
        self.rtp_sent.load(Ordering::Relaxed)
    }

    pub fn rtp_received(&self) -> u64 {
        self.rtp_received.load(Ordering::Relaxed)
    }

    pub fn keys_rfc4733(&self) -> u64 {
        self.keys_rfc4733.load(Ordering::Relaxed)
    }

    pub fn keys_inband(&self) -> u64 {
        self.keys_inband.load(Ordering::Relaxed)
    }
}

impl MediaPump {
    /// Starts `shards` shards (0: one per core), each on a thread of its own at `priority`.
    /// On its own thread a shard sleeps to the microsecond and is never held up behind the SIP,
    /// call and database tasks of the async runtime; real-time, it is not held up behind the
    /// hashing threads or anything else on the machine either (docs/performance.md: p99 jitter
    /// with resets running). A shard ends once the pump is dropped and its last session has
    /// ended.
    pub fn start(
        shards: usize,
        priority: ThreadPriority,
        library: Arc<PromptLibrary>,
    ) -> std::io::Result<MediaPump> {
        let count = match shards {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let mut senders = Vec::with_capacity(count);
        for index in 0..count {
            let (arrivals, queue) = mpsc::unbounded_channel();
            let shard = Shard::new(Arc::clone(&library));
            std::thread::Builder::new()
                .name(format!("hotline-media-{index}"))
                .spawn(move || {
                    priority.apply_to_this_thread();
                    run_on_thread(queue, shard)
                })?;
            senders.push(arrivals);
        }
        Ok(MediaPump::with_shards(senders))
    }

    /// The same shards as tasks of the current tokio runtime, whose clock a test can pause: ten
    /// minutes of frames are then sent in milliseconds.
    pub fn start_on_runtime(shards: usize, library: Arc<PromptLibrary>) -> MediaPump {
        let senders = (0..shards.max(1))
            .map(|_| {
                let (arrivals, queue) = mpsc::unbounded_channel();
                tokio::spawn(run_as_task(queue, Shard::new(Arc::clone(&library))));
                arrivals
            })
            .collect();
        MediaPump::with_shards(senders)
    }

    fn with_shards(shards: Vec<mpsc::UnboundedSender<ToShard>>) -> MediaPump {
        MediaPump {
            shards,
            next_shard: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            counters: Arc::default(),
        }
    }

    /// The pump's counters, shared: they stay readable (and counting) as long as any holder.
    pub fn counters(&self) -> Arc<MediaCounters> {
        Arc::clone(&self.counters)
    }

    /// The shard the next call goes to (round robin) and the name of its session.
    pub(super) fn place_next_call(&self) -> (mpsc::UnboundedSender<ToShard>, SessionId) {
        let shard = self.next_shard.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        let id = SessionId(self.next_id.fetch_add(1, Ordering::Relaxed));
        (self.shards[shard].clone(), id)
    }
}

/// How many slots a shard spreads its calls over: one is served every 20 ms ÷ `SLOTS`.
const SLOTS: usize = 10;

/// The time between two slots.
const SLOT_INTERVAL: Duration =
    Duration::from_millis(FRAME_INTERVAL.as_millis() as u64 / SLOTS as u64);

/// One shard's calls and its clock, whatever drives it. The calls are spread over [`SLOTS`]
/// slots 2 ms apart, and each wake-up serves one slot: sending every call's frame in one burst
/// put the last call of a busy shard a variable few milliseconds behind the first (3 ms at the
/// 99th percentile with 150 calls a shard), while a slot holds a tenth of them.
struct Shard {
    slots: [Vec<Session>; SLOTS],
    /// The slot the next wake-up serves.
    next: usize,
    /// The wake-ups, every [`SLOT_INTERVAL`].
    pacer: Pacer,
    scratch: Scratch,
    inbox: Inbox,
    library: Arc<PromptLibrary>,
    /// How late each slot is served; a handle made once, so recording takes no lookup.
    lateness: metrics::Histogram,
}

impl Shard {
    fn new(library: Arc<PromptLibrary>) -> Shard {
        Shard {
            slots: Default::default(),
            next: 0,
            pacer: Pacer::every(Instant::now(), SLOT_INTERVAL),
            scratch: Scratch::default(),
            inbox: Inbox::default(),
            library,
            lateness: crate::telemetry::rtp_lateness(),
        }
    }

    fn receive(&mut self, message: ToShard) {
        match message {
            ToShard::Start(session) => self.add(*session),
            ToShard::Command(id, command) => self.inbox.put(id, command),
        }
    }

    /// A new call goes to the emptiest slot, so the slots stay even as calls come and go.
    fn add(&mut self, session: Session) {
        if self.is_idle() {
            // The clock starts again with the first call after an idle spell.
            self.pacer = Pacer::every(Instant::now(), SLOT_INTERVAL);
        }
        let emptiest = (0..SLOTS)
            .min_by_key(|&slot| self.slots[slot].len())
            .unwrap_or(0);
        self.slots[emptiest].push(session);
    }

    fn is_idle(&self) -> bool {
        self.slots.iter().all(Vec::is_empty)
    }

    fn deadline(&self) -> Instant {
        self.pacer.deadline()
    }

    /// Serves the slot that is due, then any that fell due meanwhile: a slot late by less than a
    /// frame still sends (late), a whole frame late is skipped for every call.
    fn tick(&mut self) {
        let late = Instant::now().saturating_duration_since(self.pacer.deadline());
        self.lateness.record(late.as_secs_f64());
        self.serve_next();
        let overdue = self.pacer.sent(Instant::now()) as usize;
        let (frames, slots) = (overdue / SLOTS, overdue % SLOTS);
        if frames > 0 {
            debug!(frames, "media shard late; frames skipped");
            for session in self.slots.iter_mut().flatten() {
                session.skip_frames(frames as u32);
            }
        }
        for _ in 0..slots {
            self.serve_next();
        }
    }

    /// Every session of the next slot: its commands, received packets and next frame.
    fn serve_next(&mut self) {
        let now = Instant::now();
        let Shard {
            slots,
            next,
            scratch,
            inbox,
            library,
            ..
        } = self;
        let slot = &mut slots[*next];
        slot.retain_mut(|session| session.tick_send(library, scratch, inbox));
        for session in slot.iter_mut() {
            session.tick_listen(scratch, now);
        }
        *next = (*next + 1) % SLOTS;
    }
}

fn run_on_thread(mut arrivals: mpsc::UnboundedReceiver<ToShard>, mut shard: Shard) {
    let mut open = true;
    loop {
        // The calls and commands that arrived since the last tick.
        while open {
            match arrivals.try_recv() {
                Ok(message) => shard.receive(message),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => open = false,
            }
        }
        if shard.is_idle() {
            // Nothing to send: sleep until a call arrives instead of ticking for nobody.
            if !open {
                break;
            }
            match arrivals.blocking_recv() {
                Some(message) => shard.receive(message),
                None => break,
            }
        }
        std::thread::sleep(shard.deadline().saturating_duration_since(Instant::now()));
        shard.tick();
    }
    debug!("media shard stopped");
}

async fn run_as_task(mut arrivals: mpsc::UnboundedReceiver<ToShard>, mut shard: Shard) {
    let mut open = true;
    loop {
        if shard.is_idle() {
            if !open {
                break;
            }
            match arrivals.recv().await {
                Some(message) => shard.receive(message),
                None => break,
            }
        }
        tokio::select! {
            biased;
            arrival = arrivals.recv(), if open => match arrival {
                Some(message) => shard.receive(message),
                None => open = false,
            },
            () = sleep_until(shard.deadline()) => shard.tick(),
        }
    }
    debug!("media shard stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::{this_threads_nice, this_threads_policy};

    /// What a fresh thread ends up with after `priority` is applied to it.
    fn applied(priority: ThreadPriority) -> ((libc::c_int, libc::c_int), i32) {
        std::thread::spawn(move || {
            priority.apply_to_this_thread();
            (this_threads_policy(), this_threads_nice())
        })
        .join()
        .unwrap()
    }

    #[test]
    fn media_threads_are_real_time_where_the_system_allows_it() {
        let asked = ThreadPriority {
            realtime: 3,
            nice: 7,
        };
        // SAFETY: geteuid has no arguments and cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!(applied(asked).0, (libc::SCHED_FIFO, 3));
        } else {
            // Refused without privilege: the fallback (raising a nice value needs none).
            assert_eq!(applied(asked), ((libc::SCHED_OTHER, 0), 7));
        }
    }

    #[test]
    fn a_refused_real_time_priority_falls_back_to_the_nice_value() {
        // 100 is refused by every kernel, privileged or not.
        let asked = ThreadPriority {
            realtime: 100,
            nice: 5,
        };
        assert_eq!(applied(asked), ((libc::SCHED_OTHER, 0), 5));
        let never_real_time = ThreadPriority {
            realtime: 0,
            nice: 6,
        };
        assert_eq!(applied(never_real_time), ((libc::SCHED_OTHER, 0), 6));
    }
}
