//! The far end of a call's media, for end-to-end tests: a loopback RTP socket that records
//! every packet it receives, sends RFC 4733 key presses the way a phone does, and — through a
//! [`Recognizer`] — tells which clips it heard.
//!
//! Recognition is exact, not acoustic: hotline sends the pre-encoded frames of its
//! [`PromptLibrary`] byte for byte, so a clip is heard when its frame sequence appears in the
//! received payloads.
//!
//! For SRTP calls ([`RtpPeer::expect_srtp`], [`RtpPeer::start_srtp`]) it protects what it sends
//! and unprotects what it receives with hotline's own SRTP wrapper, and keeps the packets as
//! they came too ([`RtpPeer::raw_received`]): what a capture of the call would hold.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hotline::domain::{Clip, Digit};
use hotline::media::dtmf::tone;
use hotline::media::srtp::stream::MAX_TRAILER;
use hotline::media::srtp::{MasterKey, SrtpStream, SrtpSuite};
use hotline::media::{Codec, Frame, PromptLibrary, TelephoneEvent};
use rtp_rs::{RtpPacketBuilder, RtpReader};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};

/// One packet as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedPacket {
    pub source: SocketAddr,
    pub payload_type: u8,
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

/// How [`RtpPeer::send_dtmf`] presses keys.
#[derive(Debug, Clone, Copy)]
pub struct DtmfTiming {
    /// Key held this long: updates every 20 ms while it is.
    pub tone: Duration,
    /// Pause after each key (after its end packets).
    pub gap: Duration,
    /// Volume as −dBm0.
    pub volume: u8,
}

impl Default for DtmfTiming {
    fn default() -> Self {
        DtmfTiming {
            tone: Duration::from_millis(100),
            gap: Duration::from_millis(100),
            volume: 10,
        }
    }
}

/// Our outgoing telephone-event stream: one SSRC, continuous sequence numbers.
#[derive(Debug)]
struct OutStream {
    ssrc: u32,
    seq: u16,
    timestamp: u32,
}

/// What the receiver does with a packet: keep it as it is (plain RTP), hold it until the keys
/// are known (an SRTP call before its answer), or unprotect it.
enum Inbound {
    Plain,
    Waiting(Vec<(SocketAddr, Vec<u8>)>),
    Srtp(SrtpStream),
}

pub struct RtpPeer {
    socket: Arc<UdpSocket>,
    received: Arc<Mutex<Vec<ReceivedPacket>>>,
    /// Every packet as it came, before any SRTP.
    raw: Arc<Mutex<Vec<ReceivedPacket>>>,
    inbound: Arc<Mutex<Inbound>>,
    /// Protects what is sent, on an SRTP call.
    outbound: Mutex<Option<SrtpStream>>,
    target: Mutex<Option<SocketAddr>>,
    out: Mutex<OutStream>,
    receiver: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RtpPeer {
    /// Binds 127.0.0.1:0 and starts recording. Non-RTP datagrams are dropped.
    pub async fn bind() -> io::Result<RtpPeer> {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let received = Arc::new(Mutex::new(Vec::new()));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let inbound = Arc::new(Mutex::new(Inbound::Plain));
        let receiver = tokio::spawn({
            let socket = Arc::clone(&socket);
            let received = Arc::clone(&received);
            let raw = Arc::clone(&raw);
            let inbound = Arc::clone(&inbound);
            async move {
                let mut buf = [0u8; 2048];
                while let Ok((len, source)) = socket.recv_from(&mut buf).await {
                    let Some(packet) = parse(source, &buf[..len]) else {
                        continue;
                    };
                    lock(&raw).push(packet.clone());
                    match &mut *lock(&inbound) {
                        Inbound::Plain => lock(&received).push(packet),
                        Inbound::Waiting(held) => held.push((source, buf[..len].to_vec())),
                        Inbound::Srtp(srtp) => {
                            lock(&received).extend(unprotect(srtp, source, &mut buf[..len]))
                        }
                    }
                }
            }
        });
        Ok(RtpPeer {
            socket,
            received,
            raw,
            inbound,
            outbound: Mutex::new(None),
            target: Mutex::new(None),
            out: Mutex::new(OutStream {
                ssrc: 0x5EED_0001,
                seq: 1000,
                timestamp: 80_000,
            }),
            receiver,
        })
    }

    /// The address to put in the test UAC's SDP offer.
    pub fn local_addr(&self) -> SocketAddr {
        self.socket
            .local_addr()
            .expect("bound socket has an address")
    }

    /// Where key presses go (the port in hotline's SDP answer). Without it, they go to the
    /// source of the first packet received.
    pub fn set_target(&self, addr: SocketAddr) {
        *lock(&self.target) = Some(addr);
    }

    pub fn target(&self) -> Option<SocketAddr> {
        let explicit = *lock(&self.target);
        explicit.or_else(|| lock(&self.received).first().map(|p| p.source))
    }

    /// Everything received so far, in arrival order (decrypted, on an SRTP call).
    pub fn received(&self) -> Vec<ReceivedPacket> {
        lock(&self.received).clone()
    }

    /// Everything received so far as it came, SRTP still encrypted.
    pub fn raw_received(&self) -> Vec<ReceivedPacket> {
        lock(&self.raw).clone()
    }

    /// An SRTP call is being placed: hold what arrives until [`RtpPeer::start_srtp`].
    pub fn expect_srtp(&self) {
        *lock(&self.inbound) = Inbound::Waiting(Vec::new());
    }

    /// The answer came: send with `ours` (our offer's key), receive with `theirs` (the
    /// answer's), and unprotect what was held meanwhile.
    pub fn start_srtp(&self, suite: SrtpSuite, ours: &MasterKey, theirs: &MasterKey) {
        *lock(&self.outbound) = Some(SrtpStream::outbound(suite, ours).expect("SRTP context"));
        let mut srtp = SrtpStream::inbound(suite, theirs).expect("SRTP context");
        let mut inbound = lock(&self.inbound);
        if let Inbound::Waiting(held) = &mut *inbound {
            let mut received = lock(&self.received);
            for (source, mut packet) in held.drain(..) {
                received.extend(unprotect(&mut srtp, source, &mut packet));
            }
        }
        *inbound = Inbound::Srtp(srtp);
    }

    /// Sends `packet`, protected first on an SRTP call.
    async fn send_packet(&self, mut packet: Vec<u8>, target: SocketAddr) -> io::Result<()> {
        if let Some(srtp) = lock(&self.outbound).as_mut() {
            let len = packet.len();
            packet.resize(len + MAX_TRAILER, 0);
            let protected = srtp
                .protect(&mut packet, len)
                .map_err(|e| io::Error::other(e.to_string()))?;
            packet.truncate(protected);
        }
        self.socket.send_to(&packet, target).await.map(drop)
    }

    pub fn packet_count(&self) -> usize {
        lock(&self.received).len()
    }

    /// Forgets what was received so far (to look at one part of a call).
    pub fn clear(&self) {
        lock(&self.received).clear();
    }

    /// Waits until at least `n` packets were received, or `within` passes; true if they were.
    pub async fn wait_for_packets(&self, n: usize, within: Duration) -> bool {
        let until = Instant::now() + within;
        while Instant::now() < until {
            if self.packet_count() >= n {
                return true;
            }
            sleep(Duration::from_millis(5)).await;
        }
        self.packet_count() >= n
    }

    /// Which clips were heard so far; see [`Recognizer::heard_clips`].
    pub fn heard_clips(&self, recognizer: &Recognizer) -> Vec<Clip> {
        recognizer.heard_clips(&self.received())
    }

    /// Presses `digits` (0-9, *, #, A-D) as RFC 4733 events with payload type `pt`, in real
    /// time, with [`DtmfTiming::default`]: ~100 ms key, 3 end packets, ~100 ms pause.
    pub async fn send_dtmf(&self, digits: &str, pt: u8) -> io::Result<()> {
        self.send_dtmf_with(digits, pt, DtmfTiming::default()).await
    }

    /// As [`RtpPeer::send_dtmf`] with chosen timing. Each press: a constant timestamp, a
    /// duration growing by 160 every 20 ms, the marker on the first packet, then three end
    /// packets carrying the final duration; one SSRC and continuous sequence numbers throughout.
    pub async fn send_dtmf_with(&self, digits: &str, pt: u8, timing: DtmfTiming) -> io::Result<()> {
        let target = self.target().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotConnected,
                "no target for DTMF: set_target first",
            )
        })?;
        for c in digits.chars() {
            let digit = Digit::from_char(c)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            let updates = (timing.tone.as_millis() / 20).max(1) as u16;
            let mut event = TelephoneEvent {
                event: digit.event_code(),
                end: false,
                volume: timing.volume,
                duration: 0,
            };
            for i in 0..updates {
                event.duration = 160 * (i + 1);
                self.send_event(target, pt, event, i == 0).await?;
                sleep(Duration::from_millis(20)).await;
            }
            event.end = true;
            for _ in 0..3 {
                self.send_event(target, pt, event, false).await?;
            }
            // The next press starts later on the RTP clock by the time that passed.
            {
                let mut out = lock(&self.out);
                let elapsed = (timing.tone + timing.gap).as_millis() as u32 * 8;
                out.timestamp = out.timestamp.wrapping_add(elapsed);
            }
            sleep(timing.gap).await;
        }
        Ok(())
    }

    /// Presses `digits` as dual tones in the audio (ITU-T Q.23 frequencies), the way a phone
    /// without RFC 4733 does: 20 ms G.711 frames in `codec`'s payload type, in real time, each
    /// tone held `timing.tone` at `timing.volume` −dBm0 per frequency, silence frames for
    /// `timing.gap` after each and before the first. Same SSRC and sequence as the events.
    pub async fn send_inband_dtmf(
        &self,
        digits: &str,
        codec: Codec,
        timing: DtmfTiming,
    ) -> io::Result<()> {
        let target = self.target().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "no target: set_target first")
        })?;
        let silence = [0i16; 160];
        let gap_frames = (timing.gap.as_millis() / 20).max(1);
        for _ in 0..gap_frames {
            self.send_audio(target, codec, &silence).await?;
        }
        for c in digits.chars() {
            let digit = Digit::from_char(c)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            let (low, high) = tone::frequencies(digit);
            let amplitude = tone::DBM0_PEAK * 10f64.powf(-f64::from(timing.volume) / 20.0);
            let frames = (timing.tone.as_millis() / 20).max(1) as usize;
            for frame in 0..frames {
                let mut pcm = [0i16; 160];
                for (i, sample) in pcm.iter_mut().enumerate() {
                    let t = (frame * 160 + i) as f64 / 8000.0;
                    let tau = std::f64::consts::TAU;
                    let v = amplitude * ((tau * low * t).sin() + (tau * high * t).sin());
                    *sample = v.round().clamp(-32768.0, 32767.0) as i16;
                }
                self.send_audio(target, codec, &pcm).await?;
            }
            for _ in 0..gap_frames {
                self.send_audio(target, codec, &silence).await?;
            }
        }
        Ok(())
    }

    /// Sends `frames` 20 ms frames of silence in `codec`, in real time, in the same stream as
    /// the key presses: what a phone sends while nobody speaks.
    pub async fn send_silence(&self, codec: Codec, frames: usize) -> io::Result<()> {
        let target = self.target().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotConnected, "no target: set_target first")
        })?;
        for _ in 0..frames {
            self.send_audio(target, codec, &[0; 160]).await?;
        }
        Ok(())
    }

    /// Sends one 20 ms audio frame, then waits 20 ms.
    async fn send_audio(
        &self,
        target: SocketAddr,
        codec: Codec,
        pcm: &[i16; 160],
    ) -> io::Result<()> {
        let mut payload = [0u8; 160];
        codec.encode(pcm, &mut payload);
        let packet = {
            let mut out = lock(&self.out);
            out.seq = out.seq.wrapping_add(1);
            out.timestamp = out.timestamp.wrapping_add(160);
            RtpPacketBuilder::new()
                .payload_type(codec.payload_type())
                .ssrc(out.ssrc)
                .sequence(out.seq.into())
                .timestamp(out.timestamp)
                .payload(&payload)
                .build()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e:?}")))?
        };
        self.send_packet(packet, target).await?;
        sleep(Duration::from_millis(20)).await;
        Ok(())
    }

    /// Sends one telephone-event packet of the current press.
    pub async fn send_event(
        &self,
        target: SocketAddr,
        pt: u8,
        event: TelephoneEvent,
        marker: bool,
    ) -> io::Result<()> {
        let payload = event.to_bytes();
        let packet = {
            let mut out = lock(&self.out);
            out.seq = out.seq.wrapping_add(1);
            RtpPacketBuilder::new()
                .payload_type(pt)
                .marked(marker)
                .ssrc(out.ssrc)
                .sequence(out.seq.into())
                .timestamp(out.timestamp)
                .payload(&payload)
                .build()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{e:?}")))?
        };
        self.send_packet(packet, target).await
    }
}

/// The fields of an RTP (or SRTP: the header is clear) datagram; `None` for anything else.
fn parse(source: SocketAddr, datagram: &[u8]) -> Option<ReceivedPacket> {
    let rtp = RtpReader::new(datagram).ok()?;
    Some(ReceivedPacket {
        source,
        payload_type: rtp.payload_type(),
        marker: rtp.mark(),
        seq: rtp.sequence_number().into(),
        timestamp: rtp.timestamp(),
        ssrc: rtp.ssrc(),
        payload: rtp.payload().to_vec(),
    })
}

/// An SRTP datagram decrypted, or `None` (and a note on stderr) when it does not authenticate.
fn unprotect(
    srtp: &mut SrtpStream,
    source: SocketAddr,
    packet: &mut [u8],
) -> Option<ReceivedPacket> {
    match srtp.unprotect(packet) {
        Ok(rtp) => parse(source, rtp),
        Err(e) => {
            eprintln!("rtp_peer: an SRTP packet from {source} was refused: {e}");
            None
        }
    }
}

impl Drop for RtpPeer {
    fn drop(&mut self) {
        self.receiver.abort();
    }
}

/// A clip found in the received stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeardClip {
    pub clip: Clip,
    /// False when the stream left the clip before its last frame (a barge-in stopped it).
    pub complete: bool,
}

/// Finds the library's clips in a stream of received payloads by exact frame matching.
pub struct Recognizer {
    codec: Codec,
    clips: Vec<(Clip, Vec<Frame>)>,
    /// First frame → indexes into `clips` starting with it.
    by_first_frame: HashMap<Frame, Vec<usize>>,
}

impl Recognizer {
    pub fn new(library: &PromptLibrary, codec: Codec) -> Recognizer {
        let clips: Vec<(Clip, Vec<Frame>)> = Clip::all()
            .map(|clip| (clip, library.frames(clip, codec).to_vec()))
            .collect();
        let mut by_first_frame: HashMap<Frame, Vec<usize>> = HashMap::new();
        for (i, (_, frames)) in clips.iter().enumerate() {
            if let Some(first) = frames.first() {
                by_first_frame.entry(*first).or_default().push(i);
            }
        }
        Recognizer {
            codec,
            clips,
            by_first_frame,
        }
    }

    /// Every clip heard in `packets` (arrival order; only the codec's payload type counts),
    /// complete or cut short. Clips may follow each other directly or with silence between.
    /// At each position the longest clip that matches completely wins; failing that, the
    /// longest clip matched over at least one non-silent frame is reported as partial.
    pub fn recognize(&self, packets: &[ReceivedPacket]) -> Vec<HeardClip> {
        let stream: Vec<&[u8]> = packets
            .iter()
            .filter(|p| p.payload_type == self.codec.payload_type())
            .map(|p| p.payload.as_slice())
            .collect();
        let silence: &[u8] = self.codec.silence_frame();
        let mut heard = Vec::new();
        let mut at = 0;
        while let Some(frame) = stream.get(at) {
            let candidates = <&Frame>::try_from(*frame)
                .ok()
                .and_then(|f| self.by_first_frame.get(f))
                .map_or(&[][..], Vec::as_slice);
            let mut complete: Option<(usize, Clip)> = None;
            let mut partial: Option<(usize, Clip)> = None;
            for &i in candidates {
                let (clip, frames) = &self.clips[i];
                let matched = frames
                    .iter()
                    .zip(&stream[at..])
                    .take_while(|(a, b)| a.as_slice() == **b)
                    .count();
                if matched == frames.len() {
                    if complete.is_none_or(|(n, _)| matched > n) {
                        complete = Some((matched, *clip));
                    }
                } else if frames[..matched].iter().any(|f| f.as_slice() != silence)
                    && partial.is_none_or(|(n, _)| matched > n)
                {
                    partial = Some((matched, *clip));
                }
            }
            match (complete, partial) {
                (Some((n, clip)), _) => {
                    heard.push(HeardClip {
                        clip,
                        complete: true,
                    });
                    at += n;
                }
                (None, Some((n, clip))) => {
                    heard.push(HeardClip {
                        clip,
                        complete: false,
                    });
                    at += n;
                }
                (None, None) => at += 1, // silence, or audio that is no clip's start
            }
        }
        heard
    }

    /// The clips heard **completely**, in order. A clip cut short by a barge-in is skipped: it
    /// was not heard (use [`Recognizer::recognize`] to see it).
    pub fn heard_clips(&self, packets: &[ReceivedPacket]) -> Vec<Clip> {
        self.recognize(packets)
            .into_iter()
            .filter(|h| h.complete)
            .map(|h| h.clip)
            .collect()
    }
}
