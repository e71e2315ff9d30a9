//! Q.24's numbers, one test each, on generated tones; then talk-off on our own prompts and speech.

use super::*;
use crate::domain::Digit;
use crate::media::Codec;
use crate::media::dtmf::tone::{ToneShape, add_noise, silence, tone};
use std::path::{Path, PathBuf};

/// Keys pressed over our prompts (talk-down), every clip at several offsets.
mod talk_down;

/// Runs `samples` through a fresh detector in 20 ms frames, as the media session will.
fn detect(samples: &[i16]) -> Vec<Digit> {
    let mut detector = InbandDetector::new();
    samples.chunks(160).flat_map(|f| detector.push(f)).collect()
}

/// `keys` pressed for `tone_ms` each with `gap_ms` between, framed by 60 ms of silence.
fn keyed(keys: &[Digit], tone_ms: u32, gap_ms: u32, shape: &ToneShape) -> Vec<i16> {
    let mut out = silence(60);
    for (i, &key) in keys.iter().enumerate() {
        if i > 0 {
            out.extend(silence(gap_ms));
        }
        out.extend(tone(key, tone_ms, shape));
    }
    out.extend(silence(60));
    out
}

fn assert_each_digit(shape: &ToneShape, tone_ms: u32, accepted: bool, what: &str) {
    for digit in Digit::ALL {
        let got = detect(&keyed(&[digit], tone_ms, 0, shape));
        let want = if accepted { vec![digit] } else { vec![] };
        assert_eq!(got, want, "{what}: digit {digit}, {shape:?}, {tone_ms} ms");
    }
}

#[test]
fn every_key_is_heard_once() {
    assert_each_digit(&ToneShape::default(), 100, true, "clean");
}

#[test]
fn a_long_press_is_one_digit() {
    assert_eq!(
        detect(&keyed(&[Digit::D8], 3000, 0, &ToneShape::default())),
        [Digit::D8]
    );
}

#[test]
fn frame_size_does_not_matter() {
    let audio = keyed(
        &[Digit::D1, Digit::D2, Digit::D3],
        60,
        60,
        &ToneShape::default(),
    );
    for chunk in [1, 7, 40, 80, 160, 333, audio.len()] {
        let mut detector = InbandDetector::new();
        let got: Vec<Digit> = audio.chunks(chunk).flat_map(|f| detector.push(f)).collect();
        assert_eq!(got, [Digit::D1, Digit::D2, Digit::D3], "chunks of {chunk}");
    }
}

#[test]
fn frequency_within_1_5_percent_is_accepted() {
    for dev in [-0.015, -0.01, 0.01, 0.015] {
        assert_each_digit(&ToneShape::deviation(dev), 60, true, "both tones off");
        let low_only = ToneShape {
            low_deviation: dev,
            ..ToneShape::default()
        };
        assert_each_digit(&low_only, 60, true, "low tone off");
        let high_only = ToneShape {
            high_deviation: dev,
            ..ToneShape::default()
        };
        assert_each_digit(&high_only, 60, true, "high tone off");
    }
}

#[test]
fn frequency_beyond_3_5_percent_is_rejected() {
    for dev in [-0.05, -0.035, 0.035, 0.05] {
        assert_each_digit(&ToneShape::deviation(dev), 100, false, "both tones off");
        let low_only = ToneShape {
            low_deviation: dev,
            ..ToneShape::default()
        };
        assert_each_digit(&low_only, 100, false, "low tone off");
        let high_only = ToneShape {
            high_deviation: dev,
            ..ToneShape::default()
        };
        assert_each_digit(&high_only, 100, false, "high tone off");
    }
}

/// Every alignment of the tone against the detector's 5 ms grid.
fn at_every_offset(digit: Digit, tone_ms: u32) -> Vec<Vec<Digit>> {
    (0..40)
        .map(|offset| {
            let mut audio = vec![0i16; 480 + offset];
            audio.extend(tone(digit, tone_ms, &ToneShape::default()));
            audio.extend(silence(60));
            detect(&audio)
        })
        .collect()
}

#[test]
fn tones_of_40_ms_are_accepted_at_any_alignment() {
    for digit in Digit::ALL {
        for got in at_every_offset(digit, 40) {
            assert_eq!(got, [digit]);
        }
    }
}

#[test]
fn tones_of_20_ms_are_rejected_at_any_alignment() {
    for digit in Digit::ALL {
        for got in at_every_offset(digit, 20) {
            assert_eq!(got, []);
        }
    }
}

#[test]
fn a_40_ms_pause_separates_presses() {
    let keys = [Digit::D5, Digit::D5, Digit::D0, Digit::D0, Digit::D9];
    let shape = ToneShape::default();
    assert_eq!(detect(&keyed(&keys, 40, 40, &shape)), keys);
    assert_eq!(detect(&keyed(&keys, 100, 40, &shape)), keys);
    // Offsets: the pause may fall anywhere on the 5 ms grid.
    for offset in 0..40 {
        let mut audio = vec![0i16; offset];
        audio.extend(keyed(&[Digit::D7, Digit::D7], 50, 40, &shape));
        assert_eq!(detect(&audio), [Digit::D7, Digit::D7], "offset {offset}");
    }
}

#[test]
fn levels_from_0_to_minus_26_dbm0_are_accepted() {
    for level in [0.0, -3.0, -10.0, -20.0, -26.0, -30.0, -36.0] {
        assert_each_digit(&ToneShape::level(level), 60, true, "level");
    }
}

#[test]
fn levels_below_minus_45_dbm0_are_rejected() {
    for level in [-45.0, -50.0, -55.0] {
        assert_each_digit(&ToneShape::level(level), 100, false, "level");
    }
}

#[test]
fn twist_within_q24_is_accepted() {
    for twist in [8.0, 4.0, 0.0, -2.0, -4.0] {
        assert_each_digit(&ToneShape::twist(twist), 60, true, "twist");
    }
}

#[test]
fn fourteen_db_of_twist_is_rejected() {
    assert_each_digit(&ToneShape::twist(-14.0), 100, false, "reverse twist");
    assert_each_digit(&ToneShape::twist(14.0), 100, false, "normal twist");
}

#[test]
fn presses_in_15_db_white_noise_are_heard() {
    let shape = ToneShape::default();
    for seed in 0..8 {
        let keys = Digit::ALL;
        let mut audio = keyed(&keys, 60, 60, &shape);
        add_noise(&mut audio, shape.power(), 15.0, seed);
        assert_eq!(detect(&audio), keys, "seed {seed}");
    }
}

#[test]
fn presses_survive_g711() {
    let keys = Digit::ALL;
    for codec in Codec::ALL {
        for level in [0.0, -26.0] {
            let audio = round_trip(codec, &keyed(&keys, 50, 50, &ToneShape::level(level)));
            assert_eq!(detect(&audio), keys, "{codec:?} at {level} dBm0");
        }
    }
}

fn round_trip(codec: Codec, samples: &[i16]) -> Vec<i16> {
    let mut encoded = vec![0u8; samples.len()];
    codec.encode(samples, &mut encoded);
    let mut decoded = vec![0i16; samples.len()];
    codec.decode(&encoded, &mut decoded);
    decoded
}

fn read_wav(path: &Path) -> Vec<i16> {
    let mut reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    assert_eq!(reader.spec().sample_rate, 8000, "{path:?}");
    reader.samples::<i16>().map(|s| s.unwrap()).collect()
}

fn wavs_in(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{dir:?}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    paths.sort();
    paths
}

/// Our prompt clips, then the espeak-ng speech corpus (see testdata/speech/README.md).
fn talk_off_clips() -> Vec<(PathBuf, Vec<i16>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = wavs_in(&root.join("prompts/vi"));
    paths.extend(wavs_in(&root.join("prompts/vi/digits")));
    assert!(paths.len() >= 26, "expected the 26 prompt clips");
    paths
        .into_iter()
        .map(|p| {
            let s = read_wav(&p);
            (p, s)
        })
        .collect()
}

fn assert_silent_on(clips: &[(PathBuf, Vec<i16>)]) {
    let mut all = Vec::new();
    for (path, samples) in clips {
        for codec in [None, Some(Codec::Pcmu), Some(Codec::Pcma)] {
            let audio = match codec {
                None => samples.clone(),
                Some(c) => round_trip(c, samples),
            };
            assert_eq!(detect(&audio), [], "talk-off in {path:?} via {codec:?}");
        }
        all.extend_from_slice(samples);
    }
    for codec in [None, Some(Codec::Pcmu), Some(Codec::Pcma)] {
        let audio = match codec {
            None => all.clone(),
            Some(c) => round_trip(c, &all),
        };
        assert_eq!(
            detect(&audio),
            [],
            "talk-off in the concatenated clips via {codec:?}"
        );
    }
}

#[test]
fn no_digits_in_our_prompts() {
    assert_silent_on(&talk_off_clips());
}

/// The espeak-ng corpus made by scripts/talkoff-corpus.sh: ~100 s, 8 voices, Vietnamese and English.
fn speech_corpus() -> Vec<(PathBuf, Vec<i16>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/speech");
    let clips: Vec<_> = wavs_in(&dir)
        .into_iter()
        .map(|p| {
            let s = read_wav(&p);
            (p, s)
        })
        .collect();
    let seconds = clips.iter().map(|(_, s)| s.len()).sum::<usize>() / 8000;
    assert!(
        seconds >= 60,
        "the speech corpus should hold a minute or more, has {seconds} s"
    );
    clips
}

#[test]
fn no_digits_in_other_speech() {
    assert_silent_on(&speech_corpus());
}

#[test]
fn a_5_ms_dropout_inside_a_press_does_not_double_it() {
    for offset in 0..40 {
        let mut audio = vec![0i16; 480 + offset];
        audio.extend(tone(Digit::D3, 60, &ToneShape::default()));
        audio.extend(silence(5));
        audio.extend(tone(Digit::D3, 60, &ToneShape::default()));
        audio.extend(silence(60));
        assert_eq!(detect(&audio), [Digit::D3], "offset {offset}");
    }
}

/// Q.24 asks a detector to bridge interruptions of up to 10 ms; the hold does, at any alignment.
#[test]
fn a_10_ms_dropout_inside_a_press_does_not_double_it() {
    for offset in 0..40 {
        let mut audio = vec![0i16; 480 + offset];
        audio.extend(tone(Digit::D3, 60, &ToneShape::default()));
        audio.extend(silence(10));
        audio.extend(tone(Digit::D3, 60, &ToneShape::default()));
        audio.extend(silence(60));
        assert_eq!(detect(&audio), [Digit::D3], "offset {offset}");
    }
}
