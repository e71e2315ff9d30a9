//! The media session against real loopback sockets, in paused tokio time.
use super::*;
use crate::domain::Prompt;
use crate::media::dtmf::{DtmfMode, TelephoneEvent};
use crate::media::ports::PortPool;
use crate::media::prompts::tests::test_library;
use crate::media::pump::MediaPump;
use crate::media::srtp::{MasterKey, SrtpKeys, SrtpStream, SrtpSuite};
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
    /// The datagram as it came.
    raw: Vec<u8>,
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
                    raw: buf[..len].to_vec(),
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
        srtp: None,
    }
}

async fn start(peer: &Peer) -> Started {
    start_with(params_to(peer, Some(DTMF_PT))).await
}

async fn start_with(params: MediaParams) -> Started {
    // A block of ports of its own per test, so parallel tests never reuse each other's.
    static NEXT_BLOCK: AtomicU16 = AtomicU16::new(0);
    let block = NEXT_BLOCK.fetch_add(1, Ordering::Relaxed) % 25;
    let base = 40000 + (std::process::id() % 100) as u16 * 200 + block * 8;
    let pool = PortPool::new(base, base + 6);
    let (socket, lease) = pool.bind(LOCALHOST).unwrap();
    let library = Arc::new(test_library());
    let pump = MediaPump::start_on_runtime(1, Arc::clone(&library));
    let (handle, events) = pump.spawn(socket, lease, params);
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
    socket
        .send_to(&event_packet(seq, e, None), to)
        .await
        .unwrap();
}

/// Packet `seq` (0..8) of a perfect press of `key`: five updates 20 ms apart, three ends.
fn key_event(key: u8, seq: u16) -> TelephoneEvent {
    TelephoneEvent {
        event: key,
        end: seq >= 5,
        volume: 10,
        duration: 160 * (seq.min(4) + 1),
    }
}

#[tokio::test(start_paused = true)]
async fn a_telephone_event_is_reported_once() {
    let peer = Peer::new().await;
    let Started {
        handle, mut events, ..
    } = start(&peer).await;
    let to = SocketAddr::new(LOCALHOST, handle.local_port());
    for seq in 0..8u16 {
        let e = key_event(5, seq);
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
        let e = key_event(3, seq);
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
        let e = key_event(key, seq);
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

/// One telephone-event packet, protected with `srtp` when given.
fn event_packet(seq: u16, e: TelephoneEvent, srtp: Option<&mut SrtpStream>) -> Vec<u8> {
    let payload = e.to_bytes();
    let mut buf = [0u8; MAX_PACKET];
    let len = rtp_rs::RtpPacketBuilder::new()
        .payload_type(DTMF_PT)
        .ssrc(77)
        .sequence(seq.into())
        .timestamp(123_456)
        .marked(seq == 0)
        .payload(&payload)
        .build_into(&mut buf)
        .unwrap();
    let len = match srtp {
        Some(srtp) => srtp.protect(&mut buf, len).unwrap(),
        None => len,
    };
    buf[..len].to_vec()
}

#[tokio::test(start_paused = true)]
async fn an_srtp_call_protects_its_frames_and_hears_only_authenticated_keys() {
    let mut peer = Peer::new().await;
    let keys = SrtpKeys {
        suite: SrtpSuite::AesCm128HmacSha1_80,
        ours: MasterKey::generate().unwrap(),
        theirs: MasterKey::generate().unwrap(),
    };
    let mut params = params_to(&peer, Some(DTMF_PT));
    params.srtp = Some(SrtpSession::new(&keys).unwrap());
    let Started {
        handle, mut events, ..
    } = start_with(params).await;
    // What we send is SRTP under our key: 10 bytes of tag, silence once decrypted.
    let mut caller_in = SrtpStream::inbound(keys.suite, &keys.ours).unwrap();
    for _ in 0..5 {
        let mut packet = peer.next().await.raw;
        assert_eq!(packet.len(), 12 + 160 + 10);
        assert_ne!(&packet[12..172], CODEC.silence_frame(), "not clear audio");
        let rtp = caller_in.unprotect(&mut packet).unwrap();
        assert_eq!(
            IncomingRtp::parse(rtp).unwrap().payload,
            CODEC.silence_frame()
        );
    }
    // A key press in plain RTP, even from the caller's own address, is dropped and counted.
    let to = SocketAddr::new(LOCALHOST, handle.local_port());
    for seq in 0..8u16 {
        let packet = event_packet(seq, key_event(9, seq), None);
        peer.socket.send_to(&packet, to).await.unwrap();
        sleep(Duration::from_millis(20)).await;
    }
    sleep(Duration::from_millis(200)).await;
    assert!(events.try_recv().is_err(), "the plain key was not heard");
    // The same press protected with the caller's key is heard, once; replayed, it is dropped.
    let mut caller_out = SrtpStream::outbound(keys.suite, &keys.theirs).unwrap();
    let mut sent = Vec::new();
    for seq in 100..108u16 {
        let packet = event_packet(seq, key_event(4, seq - 100), Some(&mut caller_out));
        peer.socket.send_to(&packet, to).await.unwrap();
        sent.push(packet);
        sleep(Duration::from_millis(20)).await;
    }
    let got = timeout(Duration::from_secs(1), events.recv())
        .await
        .unwrap();
    assert_eq!(got, Some(MediaEvent::Digit(Digit::D4)));
    for packet in &sent {
        peer.socket.send_to(packet, to).await.unwrap();
    }
    sleep(Duration::from_millis(200)).await;
    assert!(events.try_recv().is_err(), "a replay is not a second press");
    let report = handle.shutdown().await;
    assert_eq!(report.rtp_dropped, 8 + 8);
}
