//! The control loop: starts calls at the asked rate and concurrency, demultiplexes the one SIP
//! socket by Call-ID into the calls' state machines, polls their timers every 10 ms, starts and
//! stops their media, and adds each finished call (signalling + what was heard) to the report.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::RngExt;

use super::call::{Call, FlowKind, Output};
use super::hear::{ClipTable, HeardOutcome, classify};
use super::keys::{Group, Keyer, Release, digits};
use super::rtp::{
    ClipTables, MediaResult, Outgoing, RxCommand, RxSummary, TxCommand, TxSummary, enlarge_buffers,
    run_receiver, run_sender,
};
use super::sdp::{self, Answer};
use super::sip::{Leg, Message, Start, response};
use super::stats::{CallRecord, Collector, Report, process_cpu, thread_cpu};
use super::{LoadError, Options};
use crate::ivr::Entry;
use crate::media::Codec;
use crate::udp_batch::{MAX_BATCH, RecvBatch};

/// How often every call's timers are looked at.
const POLL: Duration = Duration::from_millis(10);
/// The longest the SIP receive blocks, so that calls start on time.
const RECV_WAIT: Duration = Duration::from_millis(5);
/// Reset flow: the first key (8, or the code in code mode) this long after the 200 OK; the
/// welcome prompt accepts barge-in.
const FIRST_KEYS_AFTER: Duration = Duration::from_millis(500);
/// Menu mode: the code this long after the "enter your code" prompt started being heard…
const CODE_AFTER_PROMPT: Duration = Duration::from_millis(300);
/// …and at least this long after the 8 ended…
const CODE_AFTER_8: Duration = Duration::from_secs(1);
/// …or this long after the 200 OK if that prompt was never recognised.
const CODE_FALLBACK: Duration = Duration::from_secs(20);

/// A call in progress.
struct Active {
    call: Call,
    slot: u32,
    code: String,
    answer: Option<Answer>,
}

/// A call whose signalling ended, waiting for its media result.
struct Ending {
    record: CallRecord,
}

/// Everything but the calls, so a call can be driven while its outputs are executed.
struct Io {
    flow: FlowKind,
    entry: Entry,
    sip: UdpSocket,
    target: SocketAddr,
    to_sender: Sender<TxCommand>,
    to_receiver: Sender<RxCommand>,
    ending: HashMap<u32, Ending>,
    /// Media results that came before their call ended here: when the service reuses an RTP
    /// port for a new call before we have seen the old call's BYE, the receiver hands over the
    /// old call's result as soon as the new call's media is added.
    early: HashMap<u32, MediaResult>,
    collector: Collector,
}

pub struct Runner {
    options: Options,
    io: Io,
    sip_local: SocketAddr,
    rtp_local: SocketAddr,
    results: Receiver<MediaResult>,
    sender: JoinHandle<TxSummary>,
    receiver: JoinHandle<RxSummary>,
}

fn io_error(what: &str) -> impl Fn(io::Error) -> LoadError + '_ {
    move |e| LoadError::Io(format!("{what}: {e}"))
}

impl Runner {
    /// Binds the two sockets and starts the media threads.
    pub fn bind(options: Options) -> Result<Runner, LoadError> {
        let bind = |what| {
            UdpSocket::bind(SocketAddr::new(options.local_ip, 0)).map_err(|e| LoadError::Option {
                option: "--local-ip",
                message: format!("cannot bind the {what} socket on {}: {e}", options.local_ip),
            })
        };
        let sip = bind("SIP")?;
        let rtp = bind("RTP")?;
        enlarge_buffers(&sip, 4 << 20);
        enlarge_buffers(&rtp, 16 << 20);
        sip.set_read_timeout(Some(RECV_WAIT))
            .map_err(io_error("SIP socket"))?;
        let sip_local = sip.local_addr().map_err(io_error("SIP socket"))?;
        let rtp_local = rtp.local_addr().map_err(io_error("RTP socket"))?;
        let tables: ClipTables = Arc::new([
            ClipTable::new(&options.library, Codec::Pcmu),
            ClipTable::new(&options.library, Codec::Pcma),
        ]);
        let (to_sender, sender_commands) = mpsc::channel();
        let (to_receiver, receiver_commands) = mpsc::channel();
        let (results_tx, results) = mpsc::channel();
        let rtp_out = rtp.try_clone().map_err(io_error("RTP socket"))?;
        let sender = std::thread::Builder::new()
            .name("load-rtp-tx".into())
            .spawn(move || run_sender(rtp_out, sender_commands))
            .map_err(io_error("RTP sender thread"))?;
        let signals = to_sender.clone();
        // Without kernel receive timestamps the deviation would measure our own scheduling.
        let batch = RecvBatch::with_kernel_timestamps(&rtp, MAX_BATCH)
            .map_err(io_error("RTP receive timestamps (SO_TIMESTAMPNS)"))?;
        let receiver = std::thread::Builder::new()
            .name("load-rtp-rx".into())
            .spawn(move || run_receiver(rtp, batch, receiver_commands, results_tx, signals, tables))
            .map_err(io_error("RTP receiver thread"))?;
        let outcomes: Vec<&str> = HeardOutcome::ALL.iter().map(|o| o.name()).collect();
        let collector = Collector::new(options.flow.name(), &outcomes);
        Ok(Runner {
            io: Io {
                flow: options.flow,
                entry: options.entry,
                sip,
                target: options.target,
                to_sender,
                to_receiver,
                ending: HashMap::new(),
                early: HashMap::new(),
                collector,
            },
            options,
            sip_local,
            rtp_local,
            results,
            sender,
            receiver,
        })
    }

    /// Runs until every call is over; returns the report.
    pub fn run(mut self) -> Result<Report, LoadError> {
        let started = Instant::now();
        let run_id: u32 = rand::rng().random();
        let interval = Duration::from_secs_f64(1.0 / self.options.rate);
        let stop_starting = self.options.duration.map(|d| started + d);
        let mut calls: HashMap<String, Active> =
            HashMap::with_capacity(self.options.concurrent * 2);
        let mut next_start = started;
        let mut next_poll = started;
        let mut next_progress = started + Duration::from_secs(1);
        let mut peak = 0usize;
        let mut buf = vec![0u8; 65_535];
        let mut scratch: Vec<Output> = Vec::new();
        loop {
            let now = Instant::now();
            let may_start = |attempted: u64| {
                attempted < self.options.calls && stop_starting.is_none_or(|stop| now < stop)
            };
            // Start every call that is due (at a high rate, several per wake-up).
            let mut up = calls.values().filter(|a| a.call.is_up()).count();
            while now >= next_start
                && up < self.options.concurrent
                && may_start(self.io.collector.attempted_count())
            {
                let index = self.io.collector.attempted_count();
                let active = self.start_call(run_id, index, now);
                self.io.collector.attempted();
                let mut active = active;
                drive(&mut self.io, &mut active, &mut scratch, now);
                calls.insert(active.call.call_id().to_owned(), active);
                up += 1;
                next_start += interval;
            }
            // Held back by the concurrency limit: no burst to catch up later.
            if next_start < now {
                next_start = now;
            }
            peak = peak.max(up);
            if now >= next_poll {
                for active in calls.values_mut() {
                    active.call.poll(now);
                    drive(&mut self.io, active, &mut scratch, now);
                }
                calls.retain(|_, a| !a.call.is_done());
                next_poll = now + POLL;
            }
            while let Ok(result) = self.results.try_recv() {
                self.io.media_result(result);
            }
            if self.options.progress && now >= next_progress {
                let c = &self.io.collector;
                eprintln!(
                    "load: {:>6.1} s  up {:>5}  started {:>7}  completed {:>7}  failed {:>6}",
                    now.duration_since(started).as_secs_f64(),
                    up,
                    c.attempted_count(),
                    c.completed_count(),
                    c.failed_count()
                );
                next_progress += Duration::from_secs(1);
            }
            if calls.is_empty()
                && self.io.ending.is_empty()
                && !may_start(self.io.collector.attempted_count())
            {
                break;
            }
            self.receive_sip(&mut buf, &mut calls, &mut scratch);
        }
        let elapsed = started.elapsed();
        let control_cpu = thread_cpu();
        let _ = self.io.to_sender.send(TxCommand::Stop);
        let _ = self.io.to_receiver.send(RxCommand::Stop);
        let tx = self.sender.join().unwrap_or_default();
        let rx = self.receiver.join().unwrap_or_default();
        let mut collector = self.io.collector;
        let report = collector.report_mut();
        report.rtp.sent = tx.sent;
        report.rtp.stray = rx.stray;
        report.peak_concurrent = peak as u64;
        report.generator_cpu_s = (control_cpu + tx.cpu + rx.cpu).as_secs_f64();
        report.process_cpu_s = process_cpu().as_secs_f64();
        Ok(collector.finish(elapsed, &rx.deviation))
    }

    fn start_call(&self, run_id: u32, index: u64, now: Instant) -> Active {
        let callers = &self.options.callers;
        let caller = &callers[(index % callers.len() as u64) as usize];
        let call_id = format!("load-{run_id:08x}-{index}");
        let tag: u32 = rand::rng().random();
        let leg = Leg::new(
            call_id,
            &format!("{tag:08x}"),
            &caller.phone,
            self.sip_local,
            self.options.target,
        );
        let offer = sdp::offer(self.rtp_local, index);
        Active {
            call: Call::start(leg, self.options.flow, self.options.hold, &offer, now),
            slot: index as u32,
            code: caller.code.clone(),
            answer: None,
        }
    }

    /// Receives SIP until the socket is quiet for [`RECV_WAIT`] or a poll is due.
    fn receive_sip(
        &mut self,
        buf: &mut [u8],
        calls: &mut HashMap<String, Active>,
        scratch: &mut Vec<Output>,
    ) {
        let until = Instant::now() + RECV_WAIT;
        loop {
            let len = match self.io.sip.recv_from(buf) {
                Ok((len, _)) => len,
                Err(_) => return, // timed out (or an ICMP error): back to the timers
            };
            let now = Instant::now();
            if let Ok(msg) = Message::parse(&buf[..len]) {
                match calls.get_mut(msg.call_id()) {
                    Some(active) => {
                        active.call.handle(&msg, now);
                        drive(&mut self.io, active, scratch, now);
                    }
                    None => self.io.stray(&msg),
                }
            }
            if now >= until {
                return;
            }
        }
    }
}

/// Executes what a call asked for.
fn drive(io: &mut Io, active: &mut Active, scratch: &mut Vec<Output>, now: Instant) {
    scratch.extend(active.call.outputs());
    for output in scratch.drain(..) {
        match output {
            Output::Send(text) => {
                let _ = io.sip.send_to(text.as_bytes(), io.target);
            }
            Output::Answered(answer) => io.start_media(active, answer, now),
            Output::Ended(failure) => io.call_ended(active, failure, now),
        }
    }
}

impl Io {
    fn start_media(&mut self, active: &mut Active, answer: Answer, now: Instant) {
        active.answer = Some(answer);
        let keyer = match self.flow {
            FlowKind::Answer => Keyer::none(),
            FlowKind::Reset => Keyer::new(key_plan(self.entry, &active.code, now)),
        };
        let mut rng = rand::rng();
        let out = Outgoing::new(
            active.slot,
            &answer,
            keyer,
            rng.random(),
            rng.random(),
            rng.random(),
        );
        let _ = self.to_sender.send(TxCommand::Add(Box::new(out)));
        let _ = self.to_receiver.send(RxCommand::Add {
            slot: active.slot,
            remote: answer.media,
            codec: answer.codec,
        });
    }

    fn call_ended(&mut self, active: &Active, failure: Option<String>, now: Instant) {
        let call = &active.call;
        let answered = call.answered_at;
        let record = CallRecord {
            setup: answered.map(|a| a.duration_since(call.invited_at)),
            talk: answered.map_or(Duration::ZERO, |a| {
                call.ended_at.unwrap_or(now).saturating_duration_since(a)
            }),
            failure,
            ..CallRecord::default()
        };
        match active.answer {
            Some(answer) => {
                let _ = self.to_sender.send(TxCommand::Remove(active.slot));
                let _ = self.to_receiver.send(RxCommand::Remove {
                    slot: active.slot,
                    remote: answer.media,
                });
                self.ending.insert(active.slot, Ending { record });
                if let Some(result) = self.early.remove(&active.slot) {
                    self.media_result(result);
                }
            }
            None => self.collector.record(record),
        }
    }

    /// A call's media result: its outcome decides whether a clean end counts as completed.
    fn media_result(&mut self, result: MediaResult) {
        let Some(Ending { mut record }) = self.ending.remove(&result.slot) else {
            self.early.insert(result.slot, result);
            return;
        };
        record.packets = result.packets;
        record.lost = result.lost;
        if self.flow == FlowKind::Reset {
            let outcome = classify(&result.heard);
            record.outcome = Some(outcome.name());
            if record.failure.is_none() {
                if result.packets == 0 {
                    record.failure = Some("no rtp".into());
                } else if outcome != HeardOutcome::Reset {
                    record.failure = Some(format!("outcome {}", outcome.name()));
                }
            }
        }
        // `result.heard` (possibly a password) is dropped here, unseen.
        self.collector.record(record);
    }

    /// A message for no call in progress: a late BYE retransmission still deserves its 200.
    fn stray(&mut self, msg: &Message<'_>) {
        if msg.start == (Start::Request { method: "BYE" }) {
            let _ = self
                .sip
                .send_to(response(msg, 200, "OK").as_bytes(), self.target);
        }
    }
}

/// The keys of a reset call answered at `answered`.
fn key_plan(entry: Entry, code: &str, answered: Instant) -> Vec<Group> {
    let code_keys = digits(&format!("{code}#"));
    let first = Release::At(answered + FIRST_KEYS_AFTER);
    match entry {
        Entry::Code => vec![Group {
            keys: code_keys,
            release: first,
        }],
        Entry::Menu => vec![
            Group {
                keys: digits("8"),
                release: first,
            },
            Group {
                keys: code_keys,
                release: Release::OnSignal {
                    delay: CODE_AFTER_PROMPT,
                    gap: CODE_AFTER_8,
                    fallback: answered + CODE_FALLBACK,
                },
            },
        ],
    }
}
