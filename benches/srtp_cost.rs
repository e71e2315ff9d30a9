//! What SRTP costs per packet, measured — not a timed test.
//!
//! ```text
//! cargo bench --bench srtp_cost
//! ```
//!
//! Protects and unprotects 172-byte RTP packets (12-byte header, 160 bytes of PCMU: one 20 ms
//! frame) with AES_CM_128_HMAC_SHA1_80 under a fixed key, the way a call does: in place, in a
//! buffer of ours. Prints the CPU time per packet (the median of repeated runs) and the heap
//! allocations per packet, counted by this binary's global allocator (Rust's only: what C code
//! such as NSS mallocs is not seen).
//!
//! The same bench run against libsrtp2 (Debian's, on NSS), before hotline left it for
//! webrtc-srtp, gave 5.49 µs to protect and 6.05 µs to unprotect per packet, against 1.06 and
//! 1.15 µs here (docs/performance.md, "SRTP").

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hotline::media::rtp::{MAX_PACKET, RtpSender};
use hotline::media::srtp::{MasterKey, SrtpStream, SrtpSuite};

const SUITE: SrtpSuite = SrtpSuite::AesCm128HmacSha1_80;

/// Counts every allocation (and growth) the process makes, then lets the system allocator do it.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed on unchanged to `System`, which upholds GlobalAlloc's contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Packets per run: 20 ms each, so 400 seconds of one direction of a call.
const PACKETS: usize = 20_000;
const RUNS: usize = 9;
/// A fixed master key and salt (30 bytes, base64), so every run sees the same input.
const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

/// Nanoseconds per packet and allocations per packet of one run.
struct Run {
    ns: f64,
    allocations: f64,
}

fn main() {
    let plain = plain_packets();
    println!("SRTP AES_CM_128_HMAC_SHA1_80, 172-byte RTP packets, {PACKETS} packets × {RUNS} runs");
    let key = MasterKey::from_base64(KEY).expect("the bench key is 30 bytes of base64");
    let mut protect_runs = Vec::new();
    let mut unprotect_runs = Vec::new();
    for _ in 0..RUNS {
        let mut out = SrtpStream::outbound(SUITE, &key).expect("outbound context");
        let (run, packets) = protect_all(&mut out, &plain);
        protect_runs.push(run);
        let mut inb = SrtpStream::inbound(SUITE, &key).expect("inbound context");
        unprotect_runs.push(unprotect_all(&mut inb, &packets));
    }
    report("protect", &mut protect_runs);
    report("unprotect", &mut unprotect_runs);
}

/// `PACKETS` consecutive packets of one stream, payload bytes varying so no two are alike.
fn plain_packets() -> Vec<Vec<u8>> {
    let mut sender = RtpSender::with_start(0, 0x1234_5678, 1000, 160_000);
    let mut buf = [0u8; MAX_PACKET];
    (0..PACKETS)
        .map(|n| {
            let payload: Vec<u8> = (0..160).map(|i| (n * 7 + i) as u8).collect();
            sender
                .next_packet(&payload, &mut buf)
                .expect("RTP")
                .to_vec()
        })
        .collect()
}

fn protect_all(out: &mut SrtpStream, plain: &[Vec<u8>]) -> (Run, Vec<Vec<u8>>) {
    // Room for every result, made before the clock starts: the loop itself allocates nothing.
    let mut results = vec![[0u8; MAX_PACKET]; plain.len()];
    let mut lengths = vec![0usize; plain.len()];
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let started = Instant::now();
    for ((packet, buf), length) in plain.iter().zip(&mut results).zip(&mut lengths) {
        buf[..packet.len()].copy_from_slice(packet);
        *length = out.protect(buf, packet.len()).expect("protect");
    }
    let run = per_packet(started, allocations, plain.len());
    let packets = results
        .iter()
        .zip(&lengths)
        .map(|(buf, &len)| buf[..len].to_vec())
        .collect();
    (run, packets)
}

fn unprotect_all(inb: &mut SrtpStream, protected: &[Vec<u8>]) -> Run {
    let mut buf = [0u8; MAX_PACKET];
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let started = Instant::now();
    for packet in protected {
        let copy = &mut buf[..packet.len()];
        copy.copy_from_slice(packet);
        let rtp = inb.unprotect(copy).expect("unprotect");
        std::hint::black_box(rtp);
    }
    per_packet(started, allocations, protected.len())
}

fn per_packet(started: Instant, allocations_before: u64, packets: usize) -> Run {
    let ns = started.elapsed().as_nanos() as f64 / packets as f64;
    let allocations = (ALLOCATIONS.load(Ordering::Relaxed) - allocations_before) as f64;
    Run {
        ns,
        allocations: allocations / packets as f64,
    }
}

fn report(what: &str, runs: &mut [Run]) {
    runs.sort_by(|a, b| a.ns.total_cmp(&b.ns));
    let median = &runs[runs.len() / 2];
    println!(
        "  {what:<9} {:>6.2} µs per packet (median; runs {:.2}–{:.2}), {:.2} heap allocations per packet",
        median.ns / 1000.0,
        runs[0].ns / 1000.0,
        runs[runs.len() - 1].ns / 1000.0,
        median.allocations,
    );
}
