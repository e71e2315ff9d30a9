//! All calls' media over one UDP socket, in two plain threads:
//!
//! ```text
//!  control ──Add/Remove──▶ sender thread: every 20 ms (absolute deadlines) one packet per call
//!     ▲   ──Add/Remove──▶ receiver thread: blocked in recv; demux by the service's address,
//!     │                   loss, |gap − 20 ms| into one histogram, clips heard
//!     └──── MediaResult ──┘      └──Signal (the code prompt started)──▶ sender (the keys)
//! ```
//!
//! Each thread owns its table, so there is no lock on the packet path; commands arrive on
//! channels drained between packets. A blocked `recv` wakes as soon as a packet lands, so the
//! arrival time taken right after it measures the service, not our scheduling. Packets are
//! built in one reused buffer: nothing is allocated per packet.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant, SystemTime};

use rtp_rs::{RtpPacketBuilder, RtpReader, Seq};

use super::hear::{ClipTable, HeardClip, Listener};
use super::keys::Keyer;
use super::sdp::Answer;
use super::stats::{Histogram, thread_cpu};
use crate::domain::{Clip, Prompt};
use crate::media::{Codec, FRAME_SAMPLES, Frame};
use crate::udp_batch::RecvBatch;

/// The packetisation interval.
pub const FRAME: Duration = Duration::from_millis(20);
const HEADER: usize = 12;
/// An RTP header and one G.711 frame: the largest packet we send.
pub const MAX_PACKET: usize = HEADER + FRAME_SAMPLES;
/// How long the receiver waits in `recv` before it looks at its commands anyway.
/// How long the receiver sleeps between drains of its socket: long enough that packets queue
/// up (nobody is woken per packet), short enough that the buffer holds them and that a heard
/// prompt releases the next keys promptly. Arrival times come from the kernel, not from this.
const DRAIN_INTERVAL: Duration = Duration::from_millis(5);

/// One call's outgoing stream: continuous audio (silence) with key presses in its place.
pub struct Outgoing {
    pub slot: u32,
    remote: SocketAddr,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    audio_pt: u8,
    silence: &'static Frame,
    event_pt: u8,
    keyer: Keyer,
    /// RTP timestamp of the press in progress (all its packets carry it, RFC 4733 §2.5.1.2).
    press_timestamp: u32,
}

impl Outgoing {
    pub fn new(
        slot: u32,
        answer: &Answer,
        keyer: Keyer,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
    ) -> Outgoing {
        Outgoing {
            slot,
            remote: answer.media,
            ssrc,
            seq,
            timestamp,
            audio_pt: answer.codec.payload_type(),
            silence: answer.codec.silence_frame(),
            event_pt: answer.event_pt,
            keyer,
            press_timestamp: timestamp,
        }
    }

    /// The packet due in this 20 ms frame, written into `buf`; `None` when it cannot be built
    /// (only a payload type above 127 does that: the buffer always fits).
    pub fn next_packet<'b>(
        &mut self,
        now: Instant,
        buf: &'b mut [u8; MAX_PACKET],
    ) -> Option<&'b [u8]> {
        self.seq = self.seq.wrapping_add(1);
        let event;
        let (pt, marker, timestamp, payload): (u8, bool, u32, &[u8]) = match self.keyer.tick(now) {
            Some(key) => {
                if key.first {
                    self.press_timestamp = self.timestamp;
                }
                event = key.event.to_bytes();
                (self.event_pt, key.first, self.press_timestamp, &event)
            }
            None => (self.audio_pt, false, self.timestamp, self.silence),
        };
        // rtp-rs writes into our buffer, as the service's sender does: no allocation per packet.
        let len = RtpPacketBuilder::new()
            .payload_type(pt)
            .marked(marker)
            .sequence(Seq::from(self.seq))
            .timestamp(timestamp)
            .ssrc(self.ssrc)
            .payload(payload)
            .build_into(buf);
        self.timestamp = self.timestamp.wrapping_add(FRAME_SAMPLES as u32);
        Some(&buf[..len.ok()?])
    }

    /// Frames the sender could not send in time still pass on the RTP clock.
    fn skip(&mut self, frames: u32) {
        let units = frames.wrapping_mul(FRAME_SAMPLES as u32);
        self.timestamp = self.timestamp.wrapping_add(units);
    }
}

/// Commands to the sender thread.
pub enum TxCommand {
    Add(Box<Outgoing>),
    Remove(u32),
    /// The prompt asking for the call's code started being heard.
    Signal(u32, Instant),
    Stop,
}

/// Commands to the receiver thread.
pub enum RxCommand {
    Add {
        slot: u32,
        remote: SocketAddr,
        codec: Codec,
    },
    Remove {
        slot: u32,
        remote: SocketAddr,
    },
    Stop,
}

/// What one call received, sent back to the control loop when the call is removed.
#[derive(Debug)]
pub struct MediaResult {
    pub slot: u32,
    pub packets: u64,
    pub lost: u64,
    /// May hold the new password's digits: compared, then dropped; never shown.
    pub heard: Vec<HeardClip>,
}

#[derive(Debug, Default)]
pub struct TxSummary {
    pub sent: u64,
    pub send_errors: u64,
    /// Ticks that started a whole frame late (our own overload; frames skipped).
    pub late_ticks: u64,
    pub cpu: Duration,
}

#[derive(Debug, Default)]
pub struct RxSummary {
    pub deviation: Histogram,
    pub stray: u64,
    pub cpu: Duration,
}

/// The sender thread's loop: one wake-up per 20 ms for all calls.
pub fn run_sender(socket: UdpSocket, commands: Receiver<TxCommand>) -> TxSummary {
    let mut calls: Vec<Outgoing> = Vec::with_capacity(1024);
    let mut summary = TxSummary::default();
    let mut buf = [0u8; MAX_PACKET];
    let start = Instant::now();
    let mut tick: u64 = 0;
    'run: loop {
        loop {
            match commands.try_recv() {
                Ok(TxCommand::Add(out)) => calls.push(*out),
                Ok(TxCommand::Remove(slot)) => {
                    if let Some(i) = calls.iter().position(|c| c.slot == slot) {
                        calls.swap_remove(i);
                    }
                }
                Ok(TxCommand::Signal(slot, at)) => {
                    if let Some(c) = calls.iter_mut().find(|c| c.slot == slot) {
                        c.keyer.signal(at);
                    }
                }
                Ok(TxCommand::Stop) | Err(TryRecvError::Disconnected) => break 'run,
                Err(TryRecvError::Empty) => break,
            }
        }
        let now = Instant::now();
        for call in &mut calls {
            let Some(packet) = call.next_packet(now, &mut buf) else {
                summary.send_errors += 1;
                continue;
            };
            match socket.send_to(packet, call.remote) {
                Ok(_) => summary.sent += 1,
                Err(_) => summary.send_errors += 1,
            }
        }
        tick += 1;
        let after = Instant::now();
        let due_tick = (after.duration_since(start).as_nanos() / FRAME.as_nanos()) as u64;
        if due_tick > tick {
            // More than a frame behind: skip the missed frames rather than burst them.
            let missed = due_tick - tick;
            summary.late_ticks += 1;
            calls.iter_mut().for_each(|c| c.skip(missed as u32));
            tick = due_tick + 1;
        }
        let deadline = start + FRAME * tick as u32;
        std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
    }
    summary.cpu = thread_cpu();
    summary
}

/// One call's incoming stream.
struct Incoming {
    slot: u32,
    audio_pt: u8,
    table: usize,
    packets: u64,
    /// Extended sequence numbers (RFC 3550 A.1), offset so a reordered first packet cannot
    /// underflow.
    base: u64,
    highest: Option<u64>,
    /// When the previous packet reached the kernel (CLOCK_REALTIME since the epoch).
    last_arrival: Option<Duration>,
    listener: Listener,
    signalled: bool,
}

impl Incoming {
    /// A call's stream before its first packet.
    fn new(slot: u32, codec: Codec) -> Incoming {
        Incoming {
            slot,
            audio_pt: codec.payload_type(),
            table: codec_index(codec),
            packets: 0,
            base: 0,
            highest: None,
            last_arrival: None,
            listener: Listener::new(),
            signalled: false,
        }
    }

    /// `arrival` is when the kernel queued the packet, `now` when we read it.
    fn on_datagram(
        &mut self,
        datagram: &[u8],
        arrival: Duration,
        now: Instant,
        summary: &mut RxSummary,
        sender: &Sender<TxCommand>,
        tables: &[ClipTable; 2],
    ) {
        let Ok(rtp) = RtpReader::new(datagram) else {
            return;
        };
        self.packets += 1;
        self.sequence(rtp.sequence_number().into());
        if let Some(last) = self.last_arrival.replace(arrival) {
            summary
                .deviation
                .record(arrival.saturating_sub(last).abs_diff(FRAME));
        }
        if rtp.payload_type() == self.audio_pt {
            let started = self.listener.push(&tables[self.table], rtp.payload());
            if started == Some(Clip::Prompt(Prompt::EnterCode)) && !self.signalled {
                self.signalled = true;
                let _ = sender.send(TxCommand::Signal(self.slot, now));
            }
        }
    }

    fn lost(&self) -> u64 {
        let expected = self.highest.map_or(0, |h| h - self.base + 1);
        expected.saturating_sub(self.packets)
    }

    fn sequence(&mut self, seq: u16) {
        match self.highest {
            None => {
                self.base = (1 << 32) + u64::from(seq);
                self.highest = Some(self.base);
            }
            Some(highest) => {
                let delta = seq.wrapping_sub(highest as u16) as i16;
                if delta > 0 {
                    self.highest = Some(highest + delta as u64);
                }
            }
        }
    }
}

/// Now on CLOCK_REALTIME, the clock of the kernel's receive timestamps: for a datagram that
/// came without one.
fn wall_clock() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}

/// Tables of the clips in both codecs, indexed by [`codec_index`].
pub type ClipTables = Arc<[ClipTable; 2]>;

fn codec_index(codec: Codec) -> usize {
    match codec {
        Codec::Pcmu => 0,
        Codec::Pcma => 1,
    }
}

/// The receiver thread's loop.
pub fn run_receiver(
    socket: UdpSocket,
    mut batch: RecvBatch,
    commands: Receiver<RxCommand>,
    results: Sender<MediaResult>,
    sender: Sender<TxCommand>,
    tables: ClipTables,
) -> RxSummary {
    let mut summary = RxSummary::default();
    let mut calls: HashMap<SocketAddr, Incoming> = HashMap::with_capacity(2048);
    'run: loop {
        std::thread::sleep(DRAIN_INTERVAL);
        // Everything queued since the last wake-up, a batch at a time.
        loop {
            let now = Instant::now();
            let drained = batch.drain(&socket, |d| {
                let arrival = d.received.unwrap_or_else(wall_clock);
                match calls.get_mut(&d.source) {
                    Some(call) => {
                        call.on_datagram(d.data, arrival, now, &mut summary, &sender, &tables)
                    }
                    None => summary.stray += 1,
                }
            });
            // An error (ICMP port unreachable surfacing as ECONNREFUSED, say) ends this drain.
            if !drained.is_ok_and(|n| n == batch.capacity()) {
                break;
            }
        }
        // Commands after every drain: a call must be known before its first packets pile up.
        loop {
            match commands.try_recv() {
                Ok(RxCommand::Add {
                    slot,
                    remote,
                    codec,
                }) => {
                    let incoming = Incoming::new(slot, codec);
                    // The service reused a finished call's port before we removed it: that
                    // call is over, so its result goes now.
                    if let Some(old) = calls.insert(remote, incoming) {
                        let _ = results.send(finish(old, &tables));
                    }
                }
                Ok(RxCommand::Remove { slot, remote }) => {
                    if calls.get(&remote).is_some_and(|c| c.slot == slot)
                        && let Some(call) = calls.remove(&remote)
                    {
                        let _ = results.send(finish(call, &tables));
                    }
                }
                Ok(RxCommand::Stop) | Err(TryRecvError::Disconnected) => break 'run,
                Err(TryRecvError::Empty) => break,
            }
        }
    }
    summary.cpu = thread_cpu();
    summary
}

fn finish(call: Incoming, tables: &[ClipTable; 2]) -> MediaResult {
    MediaResult {
        slot: call.slot,
        packets: call.packets,
        lost: call.lost(),
        heard: call.listener.finish(&tables[call.table]),
    }
}

/// Asks for a large socket buffer: a thousand calls deliver 50,000 packets a second, and the
/// default ~200 KiB holds a few milliseconds of them. As root the limit (`net.core.rmem_max`)
/// is bypassed with the FORCE variant; otherwise the kernel caps the request.
pub fn enlarge_buffers(socket: &UdpSocket, bytes: usize) {
    let fd = socket.as_raw_fd();
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        if setsockopt(fd, force, value).is_err() {
            let _ = setsockopt(fd, plain, value);
        }
    }
}

fn setsockopt(fd: libc::c_int, option: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: `fd` is an open socket borrowed for the call; the option value is a c_int that
    // lives across it, and its size is passed exactly.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::load::keys::{Group, Release, digits};

    fn answer() -> Answer {
        Answer {
            media: "127.0.0.1:20000".parse().unwrap(),
            codec: Codec::Pcma,
            event_pt: 101,
        }
    }

    #[test]
    fn audio_and_key_packets_carry_the_right_header() {
        let t0 = Instant::now();
        let keyer = Keyer::new(vec![Group {
            keys: digits("5"),
            release: Release::At(t0 + FRAME),
        }]);
        let mut out = Outgoing::new(1, &answer(), keyer, 0xABCD, 100, 1000);
        let mut buf = [0u8; MAX_PACKET];
        let audio = out.next_packet(t0, &mut buf).unwrap().to_vec();
        let rtp = RtpReader::new(&audio).unwrap();
        assert_eq!((rtp.payload_type(), rtp.mark()), (8, false));
        assert_eq!(u16::from(rtp.sequence_number()), 101);
        assert_eq!((rtp.timestamp(), rtp.ssrc()), (1000, 0xABCD));
        assert_eq!(rtp.payload(), Codec::Pcma.silence_frame());
        let mut events = Vec::new();
        for n in 1..=8u32 {
            let p = out.next_packet(t0 + FRAME * n, &mut buf).unwrap().to_vec();
            let r = RtpReader::new(&p).unwrap();
            events.push((
                r.payload_type(),
                r.mark(),
                r.timestamp(),
                u16::from(r.sequence_number()),
            ));
        }
        // All 8 packets of the press share the timestamp of its first frame; seq keeps counting.
        assert_eq!(events[0], (101, true, 1160, 102));
        assert!(
            events[1..]
                .iter()
                .all(|e| e.0 == 101 && !e.1 && e.2 == 1160)
        );
        assert_eq!(events[7].3, 109);
        // Audio resumes on the running clock: 10 frames after the start.
        let after = out.next_packet(t0 + FRAME * 9, &mut buf).unwrap().to_vec();
        let r = RtpReader::new(&after).unwrap();
        assert_eq!((r.payload_type(), r.timestamp()), (8, 1000 + 9 * 160));
    }

    #[test]
    fn loss_is_counted_from_sequence_numbers_across_the_wrap() {
        let mut incoming = Incoming::new(0, Codec::Pcmu);
        for seq in [65_533u16, 65_534, 65_535, 1, 2, 0] {
            incoming.packets += 1;
            incoming.sequence(seq);
        }
        // 65533..=2 is 6 numbers, all arrived (0 late): nothing lost.
        assert_eq!(incoming.lost(), 0);
        incoming.packets += 1;
        incoming.sequence(10);
        // 3..=9 never came.
        assert_eq!(incoming.lost(), 7);
    }
}
