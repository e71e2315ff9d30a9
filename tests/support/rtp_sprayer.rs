//! An attacker for the strict-RTP tests: from a loopback address of its own, it sprays every
//! port of a range every 20 ms with key presses — RFC 4733 events and the same keys as DTMF
//! tones in G.711 µ-law and A-law audio — each port its own perfect streams (one SSRC per
//! kind, consecutive sequence numbers, the payload types the test calls negotiate), so only
//! the source address gives it away. It counts what it sent and what came back to it.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hotline::domain::Digit;
use hotline::media::dtmf::tone;
use hotline::media::{Codec, TelephoneEvent};
use rtp_rs::RtpPacketBuilder;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Packets of one spray press: five updates (100 ms), then three end packets.
const PRESS_PACKETS: u32 = 8;
const UPDATES: u32 = 5;

pub struct RtpSprayer {
    address: SocketAddr,
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
    tasks: [JoinHandle<()>; 2],
}

impl RtpSprayer {
    /// Starts spraying `ports` of 127.0.0.1 from `from` (e.g. 127.0.0.7), pressing `keys` in
    /// turn, with telephone-events on `event_pt`.
    pub async fn start(
        from: IpAddr,
        ports: RangeInclusive<u16>,
        keys: &str,
        event_pt: u8,
    ) -> RtpSprayer {
        let socket = Arc::new(UdpSocket::bind((from, 0)).await.expect("bind the sprayer"));
        let address = socket.local_addr().expect("sprayer address");
        let keys: Vec<Digit> = keys
            .chars()
            .map(|c| Digit::from_char(c).expect("spray key"))
            .collect();
        let (sent, received) = (Arc::default(), Arc::default());
        let listener = tokio::spawn(count_received(Arc::clone(&socket), Arc::clone(&received)));
        let spray = Spray {
            socket,
            ports,
            keys,
            event_pt,
            sent: Arc::clone(&sent),
        };
        let sprayer = tokio::spawn(spray.run());
        RtpSprayer {
            address,
            sent,
            received,
            tasks: [listener, sprayer],
        }
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Packets sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Datagrams received so far (from anyone).
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for RtpSprayer {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

async fn count_received(socket: Arc<UdpSocket>, received: Arc<AtomicU64>) {
    let mut buf = [0u8; 2048];
    loop {
        // An error (an ICMP report of an earlier send) is not a packet from hotline.
        if socket.recv_from(&mut buf).await.is_ok() {
            received.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct Spray {
    socket: Arc<UdpSocket>,
    ports: RangeInclusive<u16>,
    keys: Vec<Digit>,
    event_pt: u8,
    sent: Arc<AtomicU64>,
}

impl Spray {
    async fn run(self) {
        let mut every = tokio::time::interval(Duration::from_millis(20));
        for tick in 0u32.. {
            every.tick().await;
            let press = tick / PRESS_PACKETS;
            let key = self.keys[press as usize % self.keys.len()];
            let event = self.event(key, tick % PRESS_PACKETS);
            let press_start = press * PRESS_PACKETS * 160;
            let tone_on = tick % PRESS_PACKETS < UPDATES;
            for port in self.ports.clone() {
                let to = SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port);
                let ssrc = |kind: u32| 0x5A5A_0000 | u32::from(port) << 2 | kind;
                let seq = tick as u16;
                let marker = tick % PRESS_PACKETS == 0;
                self.send(
                    to,
                    self.event_pt,
                    ssrc(0),
                    seq,
                    press_start,
                    marker,
                    &event.to_bytes(),
                )
                .await;
                for (kind, codec) in [(1, Codec::Pcmu), (2, Codec::Pcma)] {
                    let audio = tone_frame(codec, key, tick, tone_on);
                    self.send(
                        to,
                        codec.payload_type(),
                        ssrc(kind),
                        seq,
                        tick * 160,
                        false,
                        &audio,
                    )
                    .await;
                }
            }
        }
    }

    /// The `index`-th packet of a press of `key`.
    fn event(&self, key: Digit, index: u32) -> TelephoneEvent {
        TelephoneEvent {
            event: key.event_code(),
            end: index >= UPDATES,
            volume: 10,
            duration: 160 * (index.min(UPDATES - 1) as u16 + 1),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        to: SocketAddr,
        payload_type: u8,
        ssrc: u32,
        seq: u16,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) {
        let packet = RtpPacketBuilder::new()
            .payload_type(payload_type)
            .ssrc(ssrc)
            .sequence(seq.into())
            .timestamp(timestamp)
            .marked(marker)
            .payload(payload)
            .build()
            .expect("spray packet");
        if self.socket.send_to(&packet, to).await.is_ok() {
            self.sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Frame `tick` of `key`'s dual tone at −10 dBm0 per frequency (silence when `on` is false).
fn tone_frame(codec: Codec, key: Digit, tick: u32, on: bool) -> [u8; 160] {
    let mut pcm = [0i16; 160];
    if on {
        let (low, high) = tone::frequencies(key);
        let amplitude = tone::DBM0_PEAK * 10f64.powf(-10.0 / 20.0);
        for (i, sample) in pcm.iter_mut().enumerate() {
            let t = (f64::from(tick) * 160.0 + i as f64) / 8000.0;
            let tau = std::f64::consts::TAU;
            let v = amplitude * ((tau * low * t).sin() + (tau * high * t).sin());
            *sample = v.round().clamp(-32768.0, 32767.0) as i16;
        }
    }
    let mut payload = [0u8; 160];
    codec.encode(&pcm, &mut payload);
    payload
}
