//! One call's media: the state the [`MediaPump`] ticks every 20 ms — the call's RTP socket, a
//! G.711 frame to send (the queued prompts, or silence, so the stream never stops), and the
//! caller's telephone-events, or the DTMF tones in their audio, turned into digits (whichever
//! [`DtmfSources`] says; never both, so a press is never reported twice). The call's logic
//! talks to it through a [`MediaHandle`] and hears back through [`MediaEvent`]s.
//!
//! ```text
//!  MediaHandle ──play / stop──▶ ┌──────── Session (ticked by a pump shard) ───┐ ──RTP 20 ms──▶ caller
//!                               │ Player · RtpSender                          │
//!  MediaEvent ◀──digit/finished─│ Rfc4733Receiver or InbandDetector           │ ◀──RTP─────── caller
//!                               │         ▲ only what the SourceFilter admits  │ ◀──RTP─────── anyone else
//!                               └─────────────────────────────────────────────┘
//! ```
//!
//! Every packet passes the call's [`SourceFilter`] before any detector sees it, and the filter
//! also says where our frames go (strict and symmetric RTP, see [`super::source_filter`]).

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{Span, debug, warn};

use super::codec::Codec;
use super::dtmf::{DtmfSources, InbandDetector, Rfc4733Receiver};
use super::player::Player;
use super::ports::PortLease;
use super::prompts::PromptLibrary;
use super::pump::{MediaCounters, MediaPump};
use super::rtp::{IncomingRtp, MAX_PACKET, RtpSender};
use super::source_filter::{SourceFilter, SourcePolicy, Verdict};
use crate::domain::{Clip, Digit, PlaybackId};
use crate::udp_batch::{self, RecvBatch};

/// A call's socket is read every this many ticks (40 ms): two packets per `recvmmsg` instead of
/// one halves what reading costs beyond the packets themselves, and what is read is only keys,
/// for which 20 ms more make no difference to a caller (a press lasts 40 ms or more).
const RECEIVE_EVERY_TICKS: u8 = 2;

/// Datagrams read from one call per read at most (2 every 40 ms is normal), in one `recvmmsg`.
/// The rest wait in the socket's buffer, and the kernel drops what does not fit: a caller
/// flooding its RTP port costs the shard a bounded amount of work per tick, and delays no other
/// call.
const MAX_DATAGRAMS_PER_READ: usize = 16;

/// What the SDP negotiation decided for this call's media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaParams {
    /// The `c=`/`m=` address of the caller's SDP.
    pub remote: SocketAddr,
    pub codec: Codec,
    /// The payload type our SDP answer gave the codec: its static type (0 or 8) unless the offer
    /// mapped it to a dynamic one, which we then must send.
    pub payload_type: u8,
    /// The telephone-event payload type the SDP negotiated, whether or not `dtmf` listens to
    /// it: the caller's stream may carry it, and it counts towards a latch.
    pub telephone_event_pt: Option<u8>,
    /// Which DTMF sources to listen to (SIP INFO is not the media session's business).
    pub dtmf: DtmfSources,
    /// Who may send the call's RTP besides its SDP address (`media.symmetric_rtp`).
    pub sources: SourcePolicy,
}

/// What a session saw, handed to the call when it ends ([`MediaHandle::shutdown`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaReport {
    /// RTP packets the source filter dropped: from strangers, or from a source still proving
    /// itself before a latch.
    pub rtp_dropped: u64,
    /// The source the call latched to, when it was not the SDP address (a caller behind NAT).
    pub latched_to: Option<SocketAddr>,
}

/// What the media session reports to the call.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    /// A key press, reported once, at most two ticks (40 ms) after it starts.
    Digit(Digit),
    /// The last frame of this playback was sent. Not sent for a stopped or replaced playback.
    PlaybackFinished(PlaybackId),
}

/// Keys are the caller's insurance code: `Debug` does not show them.
impl fmt::Debug for MediaEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaEvent::Digit(_) => f.write_str("Digit(*)"),
            MediaEvent::PlaybackFinished(id) => {
                f.debug_tuple("PlaybackFinished").field(id).finish()
            }
        }
    }
}

/// A session's name within the pump, for the commands its handle sends. Never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct SessionId(pub(super) u64);

#[derive(Debug)]
pub(super) enum Command {
    Play(PlaybackId, Vec<Clip>),
    Stop,
    /// The handle was dropped: the session ends.
    End,
}

/// What a shard is sent: new sessions, and commands for its sessions, in the order they were
/// sent — so a session always arrives before its first command.
pub(super) enum ToShard {
    /// Boxed on its way, so that the queue's commands are not each the size of a session; the
    /// shard keeps it unboxed, where it is walked every 20 ms.
    Start(Box<Session>),
    Command(SessionId, Command),
}

/// Commands a shard has received, each held until its session's turn. One queue per shard
/// rather than a channel per session: polling a thousand channels every 20 ms cost two cache
/// misses per call per tick — a tenth of the pump's CPU (docs/performance.md) — to learn, nearly
/// always, that there was nothing.
#[derive(Debug, Default)]
pub(super) struct Inbox {
    commands: HashMap<SessionId, Vec<Command>>,
}

impl Inbox {
    pub(super) fn put(&mut self, id: SessionId, command: Command) {
        self.commands.entry(id).or_default().push(command);
    }

    /// The commands for `id`, oldest first. Nothing is looked up while the inbox is empty,
    /// which is most ticks.
    fn take(&mut self, id: SessionId) -> Option<Vec<Command>> {
        if self.commands.is_empty() {
            return None;
        }
        self.commands.remove(&id)
    }
}

/// The call's grip on its media session. Dropping it ends the session at the next tick, which
/// closes the socket and returns the port to the pool.
#[derive(Debug)]
pub struct MediaHandle {
    shard: mpsc::UnboundedSender<ToShard>,
    id: SessionId,
    local_port: u16,
    /// Resolves with the session's report once the session has been dropped, socket and port
    /// included. `None` only while [`MediaHandle::shutdown`] waits on it.
    closed: Option<oneshot::Receiver<MediaReport>>,
}

impl MediaHandle {
    /// Plays `clips` back to back, replacing whatever plays now.
    pub fn play(&self, id: PlaybackId, clips: Vec<Clip>) {
        self.send(Command::Play(id, clips));
    }

    /// Stops the current playback (barge-in); silence from the next frame.
    pub fn stop_playback(&self) {
        self.send(Command::Stop);
    }

    fn send(&self, command: Command) {
        // Fails only when the shard is gone, i.e. the service is shutting down: nothing to do.
        let _ = self.shard.send(ToShard::Command(self.id, command));
    }

    /// The RTP port to put in our SDP answer.
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// Ends the session and waits until its socket is closed and its port released; returns
    /// what the session saw (empty if it never reached a shard).
    pub async fn shutdown(mut self) -> MediaReport {
        let closed = self.closed.take();
        drop(self);
        match closed {
            Some(closed) => closed.await.unwrap_or_default(),
            None => MediaReport::default(),
        }
    }
}

impl Drop for MediaHandle {
    fn drop(&mut self) {
        self.send(Command::End);
    }
}

impl MediaPump {
    /// Starts the media of one call on `socket` (bound from `lease`'s port, non-blocking), on
    /// one of the pump's shards. The first frame goes out at that shard's next tick.
    pub fn spawn(
        &self,
        socket: UdpSocket,
        lease: PortLease,
        params: MediaParams,
    ) -> (MediaHandle, mpsc::UnboundedReceiver<MediaEvent>) {
        let (shard, id) = self.place_next_call();
        let (event_tx, events) = mpsc::unbounded_channel();
        let (closed_tx, closed) = oneshot::channel();
        let local_port = lease.port();
        let session = Session {
            id,
            socket,
            _lease: lease,
            counters: self.counters(),
            codec: params.codec,
            sender: RtpSender::new(params.payload_type),
            player: Player::new(),
            keys: Keys {
                rfc4733: params.dtmf.rfc4733_pt.map(Rfc4733Receiver::new),
                inband: params.dtmf.inband.then(|| {
                    Box::new(Inband {
                        detector: InbandDetector::new(),
                        samples: Vec::with_capacity(udp_batch::DATAGRAM),
                    })
                }),
            },
            // The first tick reads: whatever the caller sent before it was answered.
            ticks_to_receive: 1,
            events: event_tx,
            span: Span::current(),
            sources: Sources {
                filter: SourceFilter::new(
                    params.remote,
                    params.sources,
                    [Some(params.payload_type), params.telephone_event_pt],
                ),
                report_to: Some(closed_tx),
            },
        };
        // A shard that is gone drops the session: its events channel closes and the call ends
        // as a call whose media died, which is what it is.
        let _ = shard.send(ToShard::Start(Box::new(session)));
        let handle = MediaHandle {
            shard,
            id,
            local_port,
            closed: Some(closed),
        };
        (handle, events)
    }
}

/// The call's source filter, and the channel its report goes to when the session is dropped:
/// the last field of [`Session`], so the report leaves after the socket and the port lease and
/// a call that waited for it finds the port free.
struct Sources {
    filter: SourceFilter,
    report_to: Option<oneshot::Sender<MediaReport>>,
}

impl Drop for Sources {
    fn drop(&mut self) {
        if let Some(to) = self.report_to.take() {
            let _ = to.send(MediaReport {
                rtp_dropped: self.filter.dropped(),
                latched_to: self.filter.latched_elsewhere(),
            });
        }
    }
}

/// Buffers a shard lends each session in turn, so no session carries its own.
pub(super) struct Scratch {
    received: RecvBatch,
    packet: [u8; MAX_PACKET],
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch {
            received: RecvBatch::new(MAX_DATAGRAMS_PER_READ),
            packet: [0; MAX_PACKET],
        }
    }
}

/// One call's media state. Fields drop in order: the socket and the port lease go before
/// `sources`, so [`MediaHandle::shutdown`] returns only once the port is free.
pub(super) struct Session {
    id: SessionId,
    socket: UdpSocket,
    /// Held for the life of the session: dropping it returns the port.
    _lease: PortLease,
    /// The pump's counters, which the dropped packets are added to.
    counters: Arc<MediaCounters>,
    codec: Codec,
    sender: RtpSender,
    player: Player,
    keys: Keys,
    /// Ticks until the socket is read next (see [`RECEIVE_EVERY_TICKS`]).
    ticks_to_receive: u8,
    events: mpsc::UnboundedSender<MediaEvent>,
    /// The call's span, so that what the shard logs about this call carries its Call-ID.
    span: Span,
    /// Which packets are the caller's, and where our frames go.
    sources: Sources,
}

impl Session {
    /// The first half of a 20 ms tick: the call's commands, then one frame out. False once
    /// the call has let go of its handle: the shard then drops the session.
    pub(super) fn tick_send(
        &mut self,
        library: &PromptLibrary,
        scratch: &mut Scratch,
        inbox: &mut Inbox,
    ) -> bool {
        // Commands first: a stop must silence this very frame.
        for command in inbox.take(self.id).into_iter().flatten() {
            match command {
                Command::Play(id, clips) => self.player.play(id, clips),
                Command::Stop => self.player.stop(),
                Command::End => return false,
            }
        }
        self.send_frame(library, &mut scratch.packet);
        true
    }

    /// The second half of a tick, once every call of the slot has sent: what the caller sent,
    /// every [`RECEIVE_EVERY_TICKS`] ticks, and keys whose end never came. Apart from the sends,
    /// so that one call reading this tick and not the next does not move the frames of the
    /// calls after it.
    pub(super) fn tick_listen(&mut self, scratch: &mut Scratch, now: Instant) {
        self.ticks_to_receive -= 1;
        if self.ticks_to_receive == 0 {
            self.ticks_to_receive = RECEIVE_EVERY_TICKS;
            self.receive(&mut scratch.received, now);
        }
        if let Some(dtmf) = self.keys.rfc4733.as_mut() {
            // A press whose end packets were all lost is delivered once the event goes quiet.
            if let Some(digit) = dtmf.poll_timeout(now.into_std()) {
                add(&self.counters.keys_rfc4733, 1);
                let _ = self.events.send(MediaEvent::Digit(digit));
            }
        }
    }

    /// Frames the shard could not send in time: the RTP timestamp moves on regardless.
    pub(super) fn skip_frames(&mut self, frames: u32) {
        self.sender.skip_frames(frames);
    }

    /// What the caller sent since the last read, up to [`MAX_DATAGRAMS_PER_READ`] datagrams in
    /// one system call.
    fn receive(&mut self, batch: &mut RecvBatch, now: Instant) {
        let dropped_before = self.sources.filter.dropped();
        // Counted here and added to the pump's totals once per read: one atomic add per batch.
        let (mut admitted, mut by_rfc4733, mut by_inband) = (0u64, 0u64, 0u64);
        let Session {
            socket,
            sources,
            codec,
            keys,
            events,
            span,
            ..
        } = self;
        let read = batch.drain(socket, |datagram| {
            // Not RTP (garbage, STUN, multiplexed RTCP…): nothing for us.
            let Ok(rtp) = IncomingRtp::parse(datagram.data) else {
                return;
            };
            match sources.filter.admit(datagram.source, &rtp) {
                Verdict::Drop => return,
                Verdict::Latched => match sources.filter.latched_elsewhere() {
                    // Debug: the call's end is logged with the source (`latched`) and its Call-ID.
                    Some(source) => debug!(parent: &*span, %source, "RTP latched (symmetric RTP)"),
                    None => debug!(parent: &*span, "RTP from the SDP address"),
                },
                Verdict::Accept => {}
            }
            admitted += 1;
            // Deliberately not logged: the keys are the caller's insurance code.
            keys.hear(&rtp, *codec, now, |digit, source| {
                match source {
                    KeySource::Rfc4733 => by_rfc4733 += 1,
                    KeySource::Inband => by_inband += 1,
                }
                let _ = events.send(MediaEvent::Digit(digit));
            });
        });
        // ICMP port unreachable from an earlier send, and the like: not fatal.
        if let Err(e) = read {
            debug!(parent: &*span, "RTP receive failed: {e}");
        }
        add(&self.counters.rtp_received, admitted);
        add(&self.counters.keys_rfc4733, by_rfc4733);
        add(&self.counters.keys_inband, by_inband);
        let dropped = self.sources.filter.dropped();
        if dropped != dropped_before {
            self.counters
                .rtp_dropped
                .fetch_add(dropped - dropped_before, Ordering::Relaxed);
        }
    }

    fn send_frame(&mut self, library: &PromptLibrary, buf: &mut [u8; MAX_PACKET]) {
        let tick = self.player.next_frame(library, self.codec);
        match self.sender.next_packet(tick.frame, buf) {
            Ok(packet) => match self
                .socket
                .send_to(packet, self.sources.filter.destination())
            {
                Ok(_) => add(&self.counters.rtp_sent, 1),
                // A full send buffer: this frame is lost, the next one goes out on time.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    debug!(parent: &self.span, "RTP send to {} failed: {e}", self.sources.filter.destination())
                }
            },
            Err(e) => warn!(parent: &self.span, "cannot build RTP packet: {e}"),
        }
        if let Some(id) = tick.finished {
            let _ = self.events.send(MediaEvent::PlaybackFinished(id));
        }
    }
}

/// What listens for the caller's keys: telephone-events or the tones in the audio, whichever
/// [`DtmfSources`] chose (possibly neither).
struct Keys {
    /// `None` when RFC 4733 is not listened to (not offered, or another source configured).
    rfc4733: Option<Rfc4733Receiver>,
    /// `None` unless in-band tones are listened to. Boxed: the detector's 12 KB of state inline
    /// made every session 12 KB, and a shard walking a thousand of them every 20 ms spent its
    /// time on cache misses.
    inband: Option<Box<Inband>>,
}

impl Keys {
    /// One RTP packet from the caller; `press` is called for each key it completes.
    fn hear(
        &mut self,
        rtp: &IncomingRtp,
        codec: Codec,
        now: Instant,
        mut press: impl FnMut(Digit, KeySource),
    ) {
        match self.rfc4733.as_mut() {
            Some(dtmf) if rtp.payload_type == dtmf.payload_type() => {
                let digit = dtmf.on_packet(
                    rtp.ssrc,
                    rtp.seq,
                    rtp.timestamp,
                    rtp.marker,
                    rtp.payload,
                    now.into_std(),
                );
                if let Some(digit) = digit {
                    press(digit, KeySource::Rfc4733);
                }
            }
            _ if rtp.payload_type == codec.payload_type() => {
                if let Some(inband) = self.inband.as_mut() {
                    for digit in inband.push(codec, rtp.payload) {
                        press(digit, KeySource::Inband);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Where a key heard in the RTP came from, for the metrics.
#[derive(Clone, Copy)]
enum KeySource {
    Rfc4733,
    Inband,
}

/// Adds to one of the pump's totals (no lock: a relaxed atomic add, skipped when nothing came).
fn add(total: &AtomicU64, n: u64) {
    if n > 0 {
        total.fetch_add(n, Ordering::Relaxed);
    }
}

/// The in-band detector and the buffer the caller's audio is decoded into.
struct Inband {
    detector: InbandDetector,
    samples: Vec<i16>,
}

impl Inband {
    /// Decodes one G.711 payload and runs the detector over it. Lost or reordered packets
    /// are not concealed: a gap shortens a tone, which the detector's timing rules absorb.
    fn push(&mut self, codec: Codec, payload: &[u8]) -> Vec<Digit> {
        self.samples.clear();
        self.samples.resize(payload.len(), 0);
        codec.decode(payload, &mut self.samples);
        self.detector.push(&self.samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Prompt;
    use crate::media::dtmf::{DtmfMode, TelephoneEvent};
    use crate::media::ports::PortPool;
    use crate::media::prompts::tests::test_library;
    use crate::media::pump::MediaPump;
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU16, Ordering};
    use std::time::Duration;
    use tokio::net::UdpSocket;
    use tokio::time::{sleep, sleep_until, timeout};

    const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const CODEC: Codec = Codec::Pcmu;
    const DTMF_PT: u8 = 101;

    #[derive(Debug, Clone)]
    struct Received {
        seq: u16,
        timestamp: u32,
        ssrc: u32,
        marker: bool,
        payload_type: u8,
        payload: Vec<u8>,
    }

    /// The far end: a loopback socket whose packets a background task collects, so the kernel
    /// buffer never overflows however long a test runs.
    struct Peer {
        socket: Arc<UdpSocket>,
        packets: mpsc::UnboundedReceiver<Received>,
    }

    impl Peer {
        async fn new() -> Peer {
            let socket = Arc::new(UdpSocket::bind((LOCALHOST, 0)).await.unwrap());
            let (tx, packets) = mpsc::unbounded_channel();
            let rx_socket = Arc::clone(&socket);
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                while let Ok(len) = rx_socket.recv(&mut buf).await {
                    let p = IncomingRtp::parse(&buf[..len]).unwrap();
                    let r = Received {
                        seq: p.seq,
                        timestamp: p.timestamp,
                        ssrc: p.ssrc,
                        marker: p.marker,
                        payload_type: p.payload_type,
                        payload: p.payload.to_vec(),
                    };
                    if tx.send(r).is_err() {
                        break;
                    }
                }
            });
            Peer { socket, packets }
        }

        fn addr(&self) -> SocketAddr {
            self.socket.local_addr().unwrap()
        }

        async fn next(&mut self) -> Received {
            timeout(Duration::from_secs(5), self.packets.recv())
                .await
                .expect("a packet within 5 s")
                .expect("peer alive")
        }

        fn drain(&mut self) -> Vec<Received> {
            std::iter::from_fn(|| self.packets.try_recv().ok()).collect()
        }
    }

    fn is_silence(r: &Received) -> bool {
        r.payload == CODEC.silence_frame()
    }

    /// What a test holds while its call runs: the pool and the pump must outlive the session.
    struct Started {
        pool: PortPool,
        _pump: MediaPump,
        handle: MediaHandle,
        events: mpsc::UnboundedReceiver<MediaEvent>,
        library: Arc<PromptLibrary>,
    }

    /// PCMU to `peer`, with telephone-event on `dtmf_pt` when it is offered.
    fn params_to(peer: &Peer, dtmf_pt: Option<u8>) -> MediaParams {
        MediaParams {
            remote: peer.addr(),
            codec: CODEC,
            payload_type: CODEC.payload_type(),
            telephone_event_pt: dtmf_pt,
            dtmf: DtmfSources::choose(DtmfMode::Auto, dtmf_pt),
            sources: SourcePolicy::Symmetric {
                signalling_ip: LOCALHOST,
            },
        }
    }

    async fn start(peer: &Peer) -> Started {
        // A block of ports of its own per test, so parallel tests never reuse each other's.
        static NEXT_BLOCK: AtomicU16 = AtomicU16::new(0);
        let block = NEXT_BLOCK.fetch_add(1, Ordering::Relaxed) % 25;
        let base = 40000 + (std::process::id() % 100) as u16 * 200 + block * 8;
        let pool = PortPool::new(base, base + 6);
        let (socket, lease) = pool.bind(LOCALHOST).unwrap();
        let library = Arc::new(test_library());
        let pump = MediaPump::start_on_runtime(1, Arc::clone(&library));
        let (handle, events) = pump.spawn(socket, lease, params_to(peer, Some(DTMF_PT)));
        Started {
            pool,
            _pump: pump,
            handle,
            events,
            library,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn sends_silence_with_consecutive_sequence_and_timestamps() {
        let mut peer = Peer::new().await;
        let _started = start(&peer).await;
        let mut packets = Vec::new();
        for _ in 0..20 {
            packets.push(peer.next().await);
        }
        assert!(packets[0].marker);
        for pair in packets.windows(2) {
            assert_eq!(pair[1].seq, pair[0].seq.wrapping_add(1));
            assert_eq!(pair[1].timestamp, pair[0].timestamp.wrapping_add(160));
            assert_eq!(pair[1].ssrc, pair[0].ssrc);
            assert!(!pair[1].marker);
        }
        assert!(packets.iter().all(|p| p.payload_type == 0 && is_silence(p)));
    }

    #[tokio::test(start_paused = true)]
    async fn plays_clips_byte_exact_then_silence_and_reports_the_finish() {
        let mut peer = Peer::new().await;
        let Started {
            handle,
            mut events,
            library,
            ..
        } = start(&peer).await;
        let clips = vec![
            Clip::Prompt(Prompt::NewPassword),
            Clip::Digit(2),
            Clip::Digit(7),
        ];
        let expected: Vec<Vec<u8>> = clips
            .iter()
            .flat_map(|&c| library.frames(c, CODEC).iter().map(|f| f.to_vec()))
            .collect();
        peer.next().await;
        handle.play(PlaybackId(3), clips);
        let finished = timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap();
        assert_eq!(finished, Some(MediaEvent::PlaybackFinished(PlaybackId(3))));
        sleep(Duration::from_millis(100)).await;
        let received = peer.drain();
        let first = received.iter().position(|p| !is_silence(p)).unwrap();
        assert!(received[..first].iter().all(is_silence));
        let played: Vec<Vec<u8>> = received[first..first + expected.len()]
            .iter()
            .map(|p| p.payload.clone())
            .collect();
        assert_eq!(played, expected);
        let after = &received[first + expected.len()..];
        assert!(!after.is_empty() && after.iter().all(is_silence));
        assert!(events.try_recv().is_err(), "one finish, no digit");
    }

    #[tokio::test(start_paused = true)]
    async fn stop_playback_switches_to_silence_without_a_finish() {
        let mut peer = Peer::new().await;
        let Started {
            handle, mut events, ..
        } = start(&peer).await;
        handle.play(PlaybackId(1), vec![Clip::Prompt(Prompt::Welcome); 50]);
        while is_silence(&peer.next().await) {}
        handle.stop_playback();
        sleep(Duration::from_millis(100)).await;
        peer.drain();
        for _ in 0..200 {
            assert!(is_silence(&peer.next().await));
        }
        assert!(events.try_recv().is_err());
    }

    async fn send_event(socket: &UdpSocket, to: SocketAddr, seq: u16, e: TelephoneEvent) {
        let payload = e.to_bytes();
        let packet = rtp_rs::RtpPacketBuilder::new()
            .payload_type(DTMF_PT)
            .ssrc(77)
            .sequence(seq.into())
            .timestamp(123_456)
            .marked(seq == 0)
            .payload(&payload)
            .build()
            .unwrap();
        socket.send_to(&packet, to).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_telephone_event_is_reported_once() {
        let peer = Peer::new().await;
        let Started {
            handle, mut events, ..
        } = start(&peer).await;
        let to = SocketAddr::new(LOCALHOST, handle.local_port());
        for seq in 0..8u16 {
            let e = TelephoneEvent {
                event: 5,
                end: seq >= 5,
                volume: 10,
                duration: 160 * (seq.min(4) + 1),
            };
            send_event(&peer.socket, to, seq, e).await;
            sleep(Duration::from_millis(20)).await;
        }
        // Garbage and audio on the same port are ignored.
        peer.socket.send_to(b"not rtp", to).await.unwrap();
        let got = timeout(Duration::from_secs(1), events.recv())
            .await
            .unwrap();
        assert_eq!(got, Some(MediaEvent::Digit(Digit::D5)));
        sleep(Duration::from_secs(1)).await;
        assert!(events.try_recv().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_handle_releases_the_port() {
        let peer = Peer::new().await;
        let Started {
            pool,
            _pump: pump,
            handle,
            ..
        } = start(&peer).await;
        let port = handle.local_port();
        assert_eq!(pool.leased(), 1);
        handle.shutdown().await;
        assert_eq!(pool.leased(), 0);
        std::net::UdpSocket::bind((LOCALHOST, port)).expect("the socket is closed");

        let (socket, lease) = pool.bind(LOCALHOST).unwrap();
        let (handle, _events) = pump.spawn(socket, lease, params_to(&peer, None));
        drop(handle);
        sleep(Duration::from_millis(45)).await;
        assert_eq!(pool.leased(), 0, "a plain drop ends the session too");
    }

    #[tokio::test(start_paused = true)]
    async fn calls_on_one_shard_each_get_their_own_stream() {
        let mut peers = [Peer::new().await, Peer::new().await, Peer::new().await];
        let Started {
            pool,
            _pump: pump,
            handle: first,
            ..
        } = start(&peers[0]).await;
        let mut handles = vec![first];
        for peer in &peers[1..] {
            let (socket, lease) = pool.bind(LOCALHOST).unwrap();
            handles.push(pump.spawn(socket, lease, params_to(peer, Some(DTMF_PT))).0);
        }
        sleep(Duration::from_secs(2)).await;
        let mut ssrcs = Vec::new();
        for peer in &mut peers {
            let packets = peer.drain();
            // Two seconds of frames, give or take the tick the session joined at.
            assert!((99..=101).contains(&packets.len()), "{}", packets.len());
            assert!(
                packets
                    .windows(2)
                    .all(|p| p[1].seq == p[0].seq.wrapping_add(1))
            );
            ssrcs.push(packets[0].ssrc);
        }
        ssrcs.sort_unstable();
        ssrcs.dedup();
        assert_eq!(ssrcs.len(), 3, "a random SSRC per call");
        // Ending one call leaves the others playing.
        handles.remove(1).shutdown().await;
        sleep(Duration::from_millis(200)).await;
        peers.iter_mut().for_each(|p| drop(p.drain()));
        sleep(Duration::from_millis(200)).await;
        assert!(peers[0].drain().len() >= 9);
        assert!(peers[1].drain().is_empty());
        assert!(peers[2].drain().len() >= 9);
    }

    #[tokio::test(start_paused = true)]
    async fn commands_reach_only_their_own_call() {
        let mut peers = [Peer::new().await, Peer::new().await];
        let Started {
            pool,
            _pump: pump,
            handle: _first,
            events: mut first_events,
            ..
        } = start(&peers[0]).await;
        let (socket, lease) = pool.bind(LOCALHOST).unwrap();
        let (second, mut second_events) =
            pump.spawn(socket, lease, params_to(&peers[1], Some(DTMF_PT)));
        second.play(PlaybackId(9), vec![Clip::Prompt(Prompt::NewPassword)]);
        let finished = timeout(Duration::from_secs(5), second_events.recv())
            .await
            .unwrap();
        assert_eq!(finished, Some(MediaEvent::PlaybackFinished(PlaybackId(9))));
        assert!(
            peers[0].drain().iter().all(is_silence),
            "the first call heard nothing of the second's prompt"
        );
        assert!(peers[1].drain().iter().any(|p| !is_silence(p)));
        assert!(first_events.try_recv().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_garbage_does_not_hide_a_key_press() {
        let mut peer = Peer::new().await;
        let Started {
            handle, mut events, ..
        } = start(&peer).await;
        let to = SocketAddr::new(LOCALHOST, handle.local_port());
        // Far more garbage than one tick reads (but not more than the socket buffer holds),
        // then a key press: the press is still heard once, and the stream to the caller goes on.
        for _ in 0..100 {
            peer.socket.send_to(&[0x80u8; 172], to).await.unwrap();
        }
        for seq in 0..8u16 {
            let e = TelephoneEvent {
                event: 3,
                end: seq >= 5,
                volume: 10,
                duration: 160 * (seq.min(4) + 1),
            };
            send_event(&peer.socket, to, seq, e).await;
        }
        let got = timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap();
        assert_eq!(got, Some(MediaEvent::Digit(Digit::D3)));
        sleep(Duration::from_secs(1)).await;
        assert!(events.try_recv().is_err(), "one press, one digit");
        assert!(
            peer.drain().len() >= 50,
            "a second of frames kept going out"
        );
    }

    /// Another loopback address: neither the SDP's nor the signalling IP of the test calls.
    const STRANGER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 7));

    /// Eight packets of a press of `key` from `socket`: a perfect stream, one SSRC.
    async fn press_from(socket: &UdpSocket, to: SocketAddr, key: u8) {
        for seq in 0..8u16 {
            let e = TelephoneEvent {
                event: key,
                end: seq >= 5,
                volume: 10,
                duration: 160 * (seq.min(4) + 1),
            };
            send_event(socket, to, seq, e).await;
            sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_strangers_key_press_is_dropped_counted_and_never_answered() {
        let peer = Peer::new().await;
        let Started {
            _pump: pump,
            handle,
            mut events,
            ..
        } = start(&peer).await;
        let to = SocketAddr::new(LOCALHOST, handle.local_port());
        let stranger = UdpSocket::bind((STRANGER, 0)).await.unwrap();
        press_from(&stranger, to, 9).await;
        sleep(Duration::from_millis(200)).await;
        assert!(
            events.try_recv().is_err(),
            "the stranger's key was not heard"
        );
        // The caller's own press still is.
        press_from(&peer.socket, to, 4).await;
        let got = timeout(Duration::from_secs(1), events.recv())
            .await
            .unwrap();
        assert_eq!(got, Some(MediaEvent::Digit(Digit::D4)));
        let mut buf = [0u8; 2048];
        let reply = timeout(Duration::from_millis(200), stranger.recv(&mut buf)).await;
        assert!(reply.is_err(), "nothing was sent to the stranger");
        assert_eq!(pump.counters().rtp_dropped(), 8);
        let report = handle.shutdown().await;
        assert_eq!(report.rtp_dropped, 8);
        assert_eq!(report.latched_to, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_behind_nat_is_latched_to_and_hears_the_stream_from_then_on() {
        // The SDP names `private`; the caller's packets come from `public`, another port of
        // the signalling IP, as through a NAT.
        let mut private = Peer::new().await;
        let mut public = Peer::new().await;
        let Started { handle, .. } = start(&private).await;
        let to = SocketAddr::new(LOCALHOST, handle.local_port());
        private.next().await;
        assert!(
            public.drain().is_empty(),
            "before the latch, frames go to the SDP"
        );
        for seq in 0..6u16 {
            let packet = rtp_rs::RtpPacketBuilder::new()
                .payload_type(CODEC.payload_type())
                .ssrc(0xC0FFEE)
                .sequence(seq.into())
                .timestamp(u32::from(seq) * 160)
                .payload(CODEC.silence_frame())
                .build()
                .unwrap();
            public.socket.send_to(&packet, to).await.unwrap();
            sleep(Duration::from_millis(20)).await;
        }
        sleep(Duration::from_millis(100)).await;
        private.drain();
        public.drain();
        sleep(Duration::from_millis(200)).await;
        assert!(
            private.drain().is_empty(),
            "after the latch, nothing to the SDP address"
        );
        assert!(public.drain().len() >= 9, "the frames follow the caller");
        let report = handle.shutdown().await;
        assert_eq!(report.latched_to, Some(public.addr()));
        assert_eq!(report.rtp_dropped, 3, "the packets before the fourth");
    }

    #[tokio::test(start_paused = true)]
    async fn sends_exactly_50_packets_per_second_without_drift() {
        let mut peer = Peer::new().await;
        let started = Instant::now();
        let _started = start(&peer).await;
        let seconds = 600; // a ten-minute call, in virtual time
        sleep_until(started + Duration::from_secs(seconds) - Duration::from_millis(10)).await;
        let received = peer.drain();
        assert_eq!(received.len() as u64, 50 * seconds);
        let first = &received[0];
        let last = &received[received.len() - 1];
        assert_eq!(
            last.timestamp.wrapping_sub(first.timestamp),
            160 * (50 * 600 - 1)
        );
    }
}
