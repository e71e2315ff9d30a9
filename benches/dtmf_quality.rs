//! The in-band DTMF detector's quality table and cost, measured — not a timed test.
//!
//! ```text
//! cargo bench --bench dtmf_quality                          # print the table
//! cargo bench --bench dtmf_quality -- --write docs/dtmf.md  # and replace it in the doc
//! ```
//!
//! Runs [`InbandDetector`] over a generated battery — every key × frequency error, duration,
//! pause, level, twist, white-noise SNR and G.711 round trip, each key at four alignments against
//! the detector's 5 ms grid — plus the talk-off set (our prompt clips one by one and concatenated,
//! linear and through µ-law and A-law, and the espeak-ng corpus in testdata/speech/). Every row
//! says what ITU-T Q.24 requires there and whether we meet it. Then the cost: µs of CPU per
//! second of audio for one call, the median of repeated runs.

use hotline::domain::Digit;
use hotline::media::Codec;
use hotline::media::dtmf::InbandDetector;
use hotline::media::dtmf::tone::{ToneShape, add_noise, silence, tone};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

const BEGIN: &str = "<!-- dtmf-quality:begin -->";
const END: &str = "<!-- dtmf-quality:end -->";

/// Sample offsets (against the detector's 40-sample quarter grid) each key is tried at.
const OFFSETS: [usize; 4] = [0, 11, 23, 37];

#[derive(Clone, Copy, PartialEq)]
enum Want {
    Accept,
    Reject,
    /// Q.24 leaves it open (between its accept and reject limits).
    Either,
}

impl Want {
    fn label(self) -> &'static str {
        match self {
            Want::Accept => "accept",
            Want::Reject => "reject",
            Want::Either => "—",
        }
    }
}

/// Tallies of one row: a press is *accepted* when exactly the keyed digits come out, *rejected*
/// when nothing does, *false* otherwise (a wrong digit, a doubled one, or half of a pair).
#[derive(Default)]
struct Tally {
    accepted: usize,
    rejected: usize,
    false_digits: usize,
}

impl Tally {
    fn add(&mut self, keyed: &[Digit], heard: &[Digit]) {
        if heard == keyed {
            self.accepted += 1;
        } else if heard.is_empty() {
            self.rejected += 1;
        } else {
            self.false_digits += 1;
        }
    }

    fn total(&self) -> usize {
        self.accepted + self.rejected + self.false_digits
    }

    fn meets(&self, want: Want) -> bool {
        match want {
            Want::Accept => self.accepted == self.total(),
            Want::Reject => self.rejected == self.total(),
            Want::Either => true,
        }
    }
}

fn detect(samples: &[i16]) -> Vec<Digit> {
    detect_with(InbandDetector::new(), samples)
}

fn detect_with(mut detector: InbandDetector, samples: &[i16]) -> Vec<Digit> {
    samples.chunks(160).flat_map(|f| detector.push(f)).collect()
}

fn press(offset: usize, keys: &[Digit], tone_ms: u32, gap_ms: u32, shape: &ToneShape) -> Vec<i16> {
    let mut out = vec![0i16; 480 + offset];
    for (i, &key) in keys.iter().enumerate() {
        if i > 0 {
            out.extend(silence(gap_ms));
        }
        out.extend(tone(key, tone_ms, shape));
    }
    out.extend(silence(60));
    out
}

fn round_trip(codec: Codec, samples: &[i16]) -> Vec<i16> {
    let mut encoded = vec![0u8; samples.len()];
    codec.encode(samples, &mut encoded);
    let mut decoded = vec![0i16; samples.len()];
    codec.decode(&encoded, &mut decoded);
    decoded
}

struct Section {
    title: String,
    rows: Vec<(String, Want, Tally)>,
}

/// Every key at every offset, keyed by `make(offset, key)`; `keys_per_press` says how many
/// digits one press should yield (2 for the pause rows).
fn battery(make: impl Fn(usize, Digit) -> (Vec<Digit>, Vec<i16>)) -> Tally {
    let mut tally = Tally::default();
    for key in Digit::ALL {
        for offset in OFFSETS {
            let (keyed, audio) = make(offset, key);
            tally.add(&keyed, &detect(&audio));
        }
    }
    tally
}

fn single(tone_ms: u32, shape: ToneShape) -> impl Fn(usize, Digit) -> (Vec<Digit>, Vec<i16>) {
    move |offset, key| (vec![key], press(offset, &[key], tone_ms, 0, &shape))
}

fn generated() -> Vec<Section> {
    let mut sections = Vec::new();

    let mut rows = Vec::new();
    for pct in [0.0, 1.0, -1.0, 1.5, -1.5, 2.5, -2.5, 3.5, -3.5, 5.0, -5.0] {
        let want = match f64::abs(pct) {
            a if a <= 1.5 => Want::Accept,
            a if a >= 3.5 => Want::Reject,
            _ => Want::Either,
        };
        let dev = pct / 100.0;
        let both = ToneShape::deviation(dev);
        rows.push((
            format!("both tones {pct:+.1} %"),
            want,
            battery(single(60, both)),
        ));
        if pct != 0.0 && f64::abs(pct) != 1.0 && f64::abs(pct) != 2.5 {
            let low = ToneShape {
                low_deviation: dev,
                ..ToneShape::default()
            };
            rows.push((
                format!("low tone {pct:+.1} %"),
                want,
                battery(single(60, low)),
            ));
            let high = ToneShape {
                high_deviation: dev,
                ..ToneShape::default()
            };
            rows.push((
                format!("high tone {pct:+.1} %"),
                want,
                battery(single(60, high)),
            ));
        }
    }
    sections.push(Section {
        title: "Frequency error (60 ms, −10 dBm0)".into(),
        rows,
    });

    let mut rows = Vec::new();
    for ms in [20, 30, 40, 60, 100] {
        let want = match ms {
            m if m <= 20 => Want::Reject,
            m if m >= 40 => Want::Accept,
            _ => Want::Either,
        };
        rows.push((
            format!("{ms} ms"),
            want,
            battery(single(ms, ToneShape::default())),
        ));
    }
    sections.push(Section {
        title: "Tone duration (−10 dBm0)".into(),
        rows,
    });

    let mut rows = Vec::new();
    for gap in [20, 30, 40, 60] {
        let want = if gap >= 40 {
            Want::Accept
        } else {
            Want::Either
        };
        let tally = battery(|offset, key| {
            let keys = vec![key, key];
            let audio = press(offset, &keys, 40, gap, &ToneShape::default());
            (keys, audio)
        });
        rows.push((
            format!("{gap} ms pause between two 40 ms presses of the same key"),
            want,
            tally,
        ));
    }
    sections.push(Section {
        title: "Pause (a press counts only if both are heard)".into(),
        rows,
    });

    let mut rows = Vec::new();
    for level in [
        0.0, -10.0, -20.0, -26.0, -30.0, -36.0, -40.0, -45.0, -50.0, -55.0,
    ] {
        let want = match level {
            l if l >= -26.0 => Want::Accept,
            l if l <= -45.0 => Want::Reject,
            _ => Want::Either,
        };
        rows.push((
            format!("{level} dBm0 per tone"),
            want,
            battery(single(60, ToneShape::level(level))),
        ));
    }
    sections.push(Section {
        title: "Level (60 ms)".into(),
        rows,
    });

    let mut rows = Vec::new();
    for twist in [4.0, 8.0, 10.0, 12.0, 14.0] {
        let want = if twist <= 8.0 {
            Want::Accept
        } else {
            Want::Either
        };
        rows.push((
            format!("normal {twist} dB (low group louder)"),
            want,
            battery(single(60, ToneShape::twist(twist))),
        ));
    }
    for twist in [4.0, 6.0, 8.0, 10.0, 14.0] {
        let want = match twist {
            t if t <= 4.0 => Want::Accept,
            t if t >= 14.0 => Want::Reject,
            _ => Want::Either,
        };
        rows.push((
            format!("reverse {twist} dB (high group louder)"),
            want,
            battery(single(60, ToneShape::twist(-twist))),
        ));
    }
    sections.push(Section {
        title: "Twist (60 ms, louder tone at −10 dBm0)".into(),
        rows,
    });

    let mut rows = Vec::new();
    for snr in [30.0, 20.0, 15.0, 10.0] {
        let want = if snr >= 15.0 {
            Want::Accept
        } else {
            Want::Either
        };
        let shape = ToneShape::default();
        let tally = battery(|offset, key| {
            let mut audio = press(offset, &[key], 60, 0, &shape);
            let seed = (key.event_code() as u64) << 8 | offset as u64;
            add_noise(&mut audio, shape.power(), snr, seed);
            (vec![key], audio)
        });
        rows.push((format!("{snr} dB SNR, white noise"), want, tally));
    }
    sections.push(Section {
        title: "White noise (60 ms, −10 dBm0, noise through the whole press)".into(),
        rows,
    });

    let mut rows = Vec::new();
    for codec in Codec::ALL {
        for level in [0.0, -26.0] {
            let shape = ToneShape::level(level);
            let tally = battery(|offset, key| {
                (
                    vec![key],
                    round_trip(codec, &press(offset, &[key], 40, 0, &shape)),
                )
            });
            rows.push((
                format!("{} at {level} dBm0, 40 ms", codec.encoding_name()),
                Want::Accept,
                tally,
            ));
        }
    }
    sections.push(Section {
        title: "Through G.711".into(),
        rows,
    });
    sections
}

fn read_wav(path: &Path) -> Vec<i16> {
    match hound::WavReader::open(path) {
        Ok(mut reader) => reader.samples::<i16>().filter_map(Result::ok).collect(),
        Err(e) => {
            eprintln!("skipping {}: {e}", path.display());
            Vec::new()
        }
    }
}

fn wavs(dir: &Path) -> Vec<(String, Vec<i16>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|x| x == "wav"));
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p
                .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .unwrap_or(&p)
                .display()
                .to_string();
            let samples = read_wav(&p);
            (name, samples)
        })
        .collect()
}

/// False digits on talk-off audio, for detectors confirming after 1…5 blocks: the margin.
struct TalkOff {
    name: String,
    seconds: f64,
    false_by_confirm: [usize; 5],
}

fn talk_off(name: String, audio: &[i16]) -> TalkOff {
    let mut false_by_confirm = [0; 5];
    for (blocks, count) in (1..).zip(false_by_confirm.iter_mut()) {
        *count = detect_with(InbandDetector::with_confirm_blocks(blocks), audio).len();
    }
    TalkOff {
        name,
        seconds: audio.len() as f64 / 8000.0,
        false_by_confirm,
    }
}

fn talk_off_set() -> Vec<TalkOff> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut prompts = wavs(&root.join("prompts/vi"));
    prompts.extend(wavs(&root.join("prompts/vi/digits")));
    let speech = wavs(&root.join("testdata/speech"));
    let mut out = Vec::new();
    for (set, clips) in [("our prompts", &prompts), ("espeak-ng speech", &speech)] {
        let all: Vec<i16> = clips.iter().flat_map(|(_, s)| s.iter().copied()).collect();
        for via in [None, Some(Codec::Pcmu), Some(Codec::Pcma)] {
            let pass = |s: &[i16]| match via {
                None => s.to_vec(),
                Some(c) => round_trip(c, s),
            };
            let how = via.map_or("linear", Codec::encoding_name);
            // One by one (a fresh detector per clip, as each prompt starts a new stretch of audio)…
            let mut each = TalkOff {
                name: format!("{set}, {} clips one by one, {how}", clips.len()),
                seconds: 0.0,
                false_by_confirm: [0; 5],
            };
            for (_, samples) in clips.iter() {
                let one = talk_off(String::new(), &pass(samples));
                each.seconds += one.seconds;
                for (a, b) in each.false_by_confirm.iter_mut().zip(one.false_by_confirm) {
                    *a += b;
                }
            }
            out.push(each);
            // …and back to back through one detector.
            out.push(talk_off(format!("{set}, concatenated, {how}"), &pass(&all)));
        }
    }
    out
}

/// Median µs of CPU per second of audio: 10 s of mixed speech and keys pushed in 20 ms frames.
fn cost() -> (f64, usize) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut audio: Vec<i16> = wavs(&root.join("prompts/vi"))
        .into_iter()
        .flat_map(|(_, s)| s)
        .collect();
    audio.truncate(5 * 8000);
    for key in Digit::ALL {
        audio.extend(press(0, &[key], 100, 0, &ToneShape::default()));
    }
    audio.resize(10 * 8000, 0);
    let runs = 31;
    let mut per_second: Vec<f64> = (0..runs)
        .map(|_| {
            let mut detector = InbandDetector::new();
            let start = Instant::now();
            let mut heard = 0;
            for frame in audio.chunks(160) {
                heard += std::hint::black_box(detector.push(std::hint::black_box(frame))).len();
            }
            std::hint::black_box(heard);
            start.elapsed().as_secs_f64() * 1e6 / 10.0
        })
        .collect();
    per_second.sort_by(f64::total_cmp);
    (per_second[runs / 2], runs)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cpu}, {cores} cores available, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn render(sections: &[Section], talk: &[TalkOff], cost: (f64, usize)) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "_Generated by `cargo bench --bench dtmf_quality -- --write docs/dtmf.md`; do not edit by hand._\n"
    );
    let _ = writeln!(
        md,
        "Each row keys all 16 keys at {} alignments against the detector's 5 ms grid ({} presses). \
        *accepted*: exactly the keyed digit(s) came out; *rejected*: nothing did; *false*: anything else \
        (wrong, doubled or half-heard). \"Q.24\" is what ITU-T Q.24 requires (— = its don't-care band).\n",
        OFFSETS.len(),
        16 * OFFSETS.len()
    );
    let mut failures = 0;
    for s in sections {
        let _ = writeln!(md, "**{}**\n", s.title);
        let _ = writeln!(
            md,
            "| condition | Q.24 | accepted | rejected | false | meets |"
        );
        let _ = writeln!(md, "|---|---|---:|---:|---:|:---:|");
        for (name, want, t) in &s.rows {
            let ok = t.meets(*want);
            failures += usize::from(!ok);
            let mark = match (want, ok) {
                (Want::Either, _) => "—",
                (_, true) => "yes",
                (_, false) => "**NO**",
            };
            let _ = writeln!(
                md,
                "| {name} | {} | {} | {} | {} | {mark} |",
                want.label(),
                t.accepted,
                t.rejected,
                t.false_digits
            );
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "**Talk-off** — digits heard where none was keyed. The service confirms after 5 \
        agreeing blocks; the columns for 1–4 show how close the audio came (the margin).\n"
    );
    let _ = writeln!(
        md,
        "| audio | seconds | false digits | at 4 blocks | at 3 | at 2 | at 1 |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|---:|---:|---:|");
    for t in talk {
        let f = t.false_by_confirm;
        failures += usize::from(f[4] != 0);
        let _ = writeln!(
            md,
            "| {} | {:.1} | **{}** | {} | {} | {} | {} |",
            t.name, t.seconds, f[4], f[3], f[2], f[1], f[0]
        );
    }
    let _ = writeln!(
        md,
        "\nRows not meeting Q.24 or with talk-off: **{failures}**.\n"
    );
    let _ = writeln!(
        md,
        "**Cost**: {:.0} µs of CPU per second of audio per call (median of {} runs over 10 s of \
        prompts and keys, pushed in 20 ms frames; release build), i.e. {:.3} % of one core. Machine: {}.",
        cost.0,
        cost.1,
        cost.0 / 1e4,
        machine()
    );
    md
}

fn write_between_markers(path: &Path, table: &str) -> Result<(), String> {
    let doc = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
        return Err(format!(
            "{}: markers {BEGIN} … {END} not found",
            path.display()
        ));
    };
    if e < b {
        return Err(format!("{}: {END} comes before {BEGIN}", path.display()));
    }
    let new = format!("{}{BEGIN}\n{table}{}", &doc[..b], &doc[e..]);
    std::fs::write(path, new).map_err(|e| format!("{}: {e}", path.display()))
}

fn main() {
    // `cargo bench` passes `--bench`; the only argument of ours is `--write <file>`.
    let args: Vec<String> = std::env::args().collect();
    let target = args
        .iter()
        .position(|a| a == "--write")
        .and_then(|i| args.get(i + 1));
    let sections = generated();
    let talk = talk_off_set();
    let cost = cost();
    let table = render(&sections, &talk, cost);
    print!("{table}");
    if let Some(path) = target {
        match write_between_markers(Path::new(path), &table) {
            Ok(()) => eprintln!("wrote the table into {path}"),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
}
