//! A media session against the test RTP peer over loopback, in real time: what it plays is what
//! the peer hears, and the keys the peer presses come back as digits.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hotline::domain::{Clip, PlaybackId, Prompt};
use hotline::media::dtmf::{DtmfMode, DtmfSources};
use hotline::media::{Codec, MediaParams, PortPool, PromptLibrary, SourcePolicy};
use hotline::media::{MediaEvent, MediaHandle, MediaPump, ThreadPriority};
use support::rtp_peer::{HeardClip, Recognizer, RtpPeer};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{sleep, timeout};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const DTMF_PT: u8 = 101;

/// Writes every clip as 8 kHz mono 16-bit WAVs: each a tone of its own frequency plus a little
/// noise of its own seed, so no two clips share a frame. New-password is a long one (1 s) so a
/// barge-in can cut it; the others are 100-200 ms to keep the test quick.
fn write_prompts(dir: &Path) {
    for (index, clip) in Clip::all().enumerate() {
        let path = dir.join(clip.relative_path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut wav = hound::WavWriter::create(&path, spec).unwrap();
        let len = match clip {
            Clip::Prompt(Prompt::NewPassword) => 8000,
            _ => 800 + 37 * index,
        };
        let freq = 350.0 + 113.0 * index as f64;
        let mut noise = 0x9E37_79B9u32.wrapping_mul(index as u32 + 1);
        for n in 0..len {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            let tone = (2.0 * std::f64::consts::PI * freq * n as f64 / 8000.0).sin() * 10000.0;
            let hiss = f64::from(noise % 601) - 300.0;
            wav.write_sample((tone + hiss) as i16).unwrap();
        }
        wav.finalize().unwrap();
    }
}

struct Call {
    peer: RtpPeer,
    media: MediaHandle,
    events: UnboundedReceiver<MediaEvent>,
    recognizer: Recognizer,
    _pool: PortPool,
    _pump: MediaPump,
    _prompts: tempfile::TempDir,
}

async fn call(codec: Codec) -> Call {
    let prompts = tempfile::tempdir().unwrap();
    write_prompts(prompts.path());
    let library = Arc::new(PromptLibrary::load(prompts.path()).unwrap());
    let peer = RtpPeer::bind().await.unwrap();
    let base = 42000 + (std::process::id() % 300) as u16 * 20;
    let pool = PortPool::new(base, base + 18);
    let (socket, lease) = pool.bind(LOCALHOST).unwrap();
    let params = MediaParams {
        remote: peer.local_addr(),
        codec,
        payload_type: codec.payload_type(),
        telephone_event_pt: Some(DTMF_PT),
        dtmf: DtmfSources::choose(DtmfMode::Auto, Some(DTMF_PT)),
        sources: SourcePolicy::SdpOnly,
        srtp: None,
    };
    let pump = MediaPump::start(1, ThreadPriority::INHERITED, Arc::clone(&library)).unwrap();
    let (media, events) = pump.spawn(socket, lease, params);
    peer.set_target(SocketAddr::new(LOCALHOST, media.local_port()));
    Call {
        recognizer: Recognizer::new(&library, codec),
        peer,
        media,
        events,
        _pool: pool,
        _pump: pump,
        _prompts: prompts,
    }
}

async fn next_event(events: &mut UnboundedReceiver<MediaEvent>) -> MediaEvent {
    timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("media task alive")
}

#[tokio::test]
async fn the_peer_hears_exactly_the_clips_played() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let mut call = call(codec).await;
        let clips = vec![
            Clip::Prompt(Prompt::NewPassword),
            Clip::Digit(2),
            Clip::Digit(7),
            Clip::Digit(0),
            Clip::Digit(7),
            Clip::Digit(1),
            Clip::Digit(9),
            Clip::Prompt(Prompt::Goodbye),
        ];
        assert!(call.peer.wait_for_packets(3, Duration::from_secs(5)).await);
        call.media.play(PlaybackId(1), clips.clone());
        assert_eq!(
            next_event(&mut call.events).await,
            MediaEvent::PlaybackFinished(PlaybackId(1))
        );
        sleep(Duration::from_millis(200)).await; // the last frames reach the peer
        assert_eq!(call.peer.heard_clips(&call.recognizer), clips, "{codec:?}");
        // Silence before and after: the stream never stopped.
        let received = call.peer.received();
        let silence: &[u8] = codec.silence_frame();
        assert_eq!(received.first().unwrap().payload, silence);
        assert_eq!(received.last().unwrap().payload, silence);
        call.media.shutdown().await;
    }
}

#[tokio::test]
async fn a_prompt_stopped_midway_is_heard_only_partly() {
    let mut call = call(Codec::Pcmu).await;
    call.media.play(
        PlaybackId(1),
        vec![Clip::Prompt(Prompt::NewPassword), Clip::Digit(5)],
    );
    // Stop 200 ms into a 1 s prompt.
    let silent = call.peer.packet_count();
    assert!(
        call.peer
            .wait_for_packets(silent + 10, Duration::from_secs(5))
            .await
    );
    call.media.stop_playback();
    sleep(Duration::from_millis(300)).await;
    assert_eq!(
        call.recognizer.recognize(&call.peer.received()),
        [HeardClip {
            clip: Clip::Prompt(Prompt::NewPassword),
            complete: false
        }]
    );
    assert!(call.peer.heard_clips(&call.recognizer).is_empty());
    assert!(
        call.events.try_recv().is_err(),
        "a stopped playback does not finish"
    );
}

#[tokio::test]
async fn keys_pressed_by_the_peer_arrive_once_each_in_order() {
    let mut call = call(Codec::Pcma).await;
    call.peer.send_dtmf("8#0011*", DTMF_PT).await.unwrap();
    let mut keys = String::new();
    for _ in 0..7 {
        match next_event(&mut call.events).await {
            MediaEvent::Digit(d) => keys.push(d.as_char()),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(keys, "8#0011*");
    sleep(Duration::from_millis(300)).await;
    assert!(call.events.try_recv().is_err(), "no doubled digit");
    // A key on another payload type is not DTMF for this call.
    call.peer.send_dtmf("5", 96).await.unwrap();
    sleep(Duration::from_millis(100)).await;
    assert!(call.events.try_recv().is_err());
}
