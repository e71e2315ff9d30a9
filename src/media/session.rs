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
//! also says where our frames go (strict and symmetric RTP, see [`super::source_filter`]). On
//! an SRTP call ([`super::srtp`]) a packet must authenticate before the filter sees it, and
//! every frame is protected in the send buffer it was built in.

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
use super::srtp::SrtpSession;
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
#[derive(Debug)]
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
    /// The call's SRTP contexts when it is encrypted: every packet we send is protected, and
    /// every packet received must authenticate before the source filter sees it.
    pub srtp: Option<SrtpSession>,
}

/// What a session saw, handed to the call when it ends ([`MediaHandle::shutdown`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaReport {
    /// RTP packets the source filter dropped: from strangers, or from a source still proving
    /// itself before a latch; and, on an SRTP call, packets that failed authentication or
    /// replay checks.
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
            srtp: params.srtp,
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
                srtp_rejected: 0,
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
    /// Packets that failed SRTP authentication or the replay check: dropped like strangers'.
    srtp_rejected: u64,
    report_to: Option<oneshot::Sender<MediaReport>>,
}

impl Drop for Sources {
    fn drop(&mut self) {
        if let Some(to) = self.report_to.take() {
            let _ = to.send(MediaReport {
                rtp_dropped: self.filter.dropped() + self.srtp_rejected,
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
    /// `None` on a plain RTP call.
    srtp: Option<SrtpSession>,
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
            self.receive(scratch, now);
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
    fn receive(&mut self, scratch: &mut Scratch, now: Instant) {
        let dropped_before = self.sources.filter.dropped() + self.sources.srtp_rejected;
        let Scratch {
            received: batch,
            packet: decrypted,
        } = scratch;
        // Counted here and added to the pump's totals once per read: one atomic add per batch.
        let (mut admitted, mut by_rfc4733, mut by_inband) = (0u64, 0u64, 0u64);
        let Session {
            socket,
            sources,
            codec,
            keys,
            events,
            span,
            srtp,
            ..
        } = self;
        let read = batch.drain(socket, |datagram| {
            let data = match srtp.as_mut() {
                None => datagram.data,
                // Decrypted in the shard's buffer; what does not authenticate, or comes again,
                // is dropped and counted as a stranger's packet would be (what is not even
                // RTP is not counted, as on a plain call).
                Some(srtp) => match unprotect(srtp, datagram.data, decrypted) {
                    Some(rtp) => rtp,
                    None if IncomingRtp::parse(datagram.data).is_err() => return,
                    None => {
                        sources.srtp_rejected += 1;
                        return;
                    }
                },
            };
            // Not RTP (garbage, STUN, multiplexed RTCP…): nothing for us.
            let Ok(rtp) = IncomingRtp::parse(data) else {
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
        let dropped = self.sources.filter.dropped() + self.sources.srtp_rejected;
        if dropped != dropped_before {
            self.counters
                .rtp_dropped
                .fetch_add(dropped - dropped_before, Ordering::Relaxed);
        }
    }

    fn send_frame(&mut self, library: &PromptLibrary, buf: &mut [u8; MAX_PACKET]) {
        let tick = self.player.next_frame(library, self.codec);
        let built = match self.sender.next_packet(tick.frame, buf) {
            Ok(packet) => Some(packet.len()),
            Err(e) => {
                warn!(parent: &self.span, "cannot build RTP packet: {e}");
                None
            }
        };
        // Protected in place, in the same buffer (inside, webrtc-srtp makes a new buffer per
        // packet, copied back: ~1 µs in all, docs/performance.md "SRTP").
        let ready = match (built, self.srtp.as_mut()) {
            (Some(len), Some(srtp)) => match srtp.outbound.protect(buf, len) {
                Ok(len) => Some(len),
                Err(e) => {
                    warn!(parent: &self.span, "cannot protect an RTP packet: {e}");
                    None
                }
            },
            (built, None) => built,
            (None, Some(_)) => None,
        };
        if let Some(len) = ready {
            match self
                .socket
                .send_to(&buf[..len], self.sources.filter.destination())
            {
                Ok(_) => add(&self.counters.rtp_sent, 1),
                // A full send buffer: this frame is lost, the next one goes out on time.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    debug!(parent: &self.span, "RTP send to {} failed: {e}", self.sources.filter.destination())
                }
            }
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

/// The caller's SRTP `datagram` authenticated and decrypted into `buf`, or `None` when it
/// fails (a forgery, a replay, plain RTP, or more than a packet's worth of bytes).
fn unprotect<'b>(srtp: &mut SrtpSession, datagram: &[u8], buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let copy = buf.get_mut(..datagram.len())?;
    copy.copy_from_slice(datagram);
    srtp.inbound.unprotect(copy).ok()
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
mod tests;
