//! Talk-down: keys pressed *over* a prompt — the caller barging in while our prompt echoes back
//! on their line — must all be heard, and nothing else. The talk-off tests alone would pass for a
//! deaf detector; these keep it hearing.
//!
//! Every prompt clip, at several offsets into it, under the same keyed sequence, at two prompt
//! levels and two keying speeds. The prompt's level is its mean power over the whole clip, pauses
//! included, set `under_db` below the pair's power: a loud syllable is several dB above that, so a
//! 20 ms block under one sees the tones barely above the speech. `cargo test --lib talk_down --
//! --nocapture` prints the full measurement.

use super::super::InbandDetector;
use super::{keyed, talk_off_clips};
use crate::domain::Digit;
use crate::media::dtmf::tone::ToneShape;
use std::fmt;
use std::path::PathBuf;

/// The sequence a caller keys: the menu choice, then the start of a code and its terminator.
const KEYS: [Digit; 5] = [Digit::D8, Digit::D0, Digit::D1, Digit::D2, Digit::Pound];
/// Where in each clip the keying starts, as a fraction of the clip (the prompt loops under it).
const OFFSETS: [f64; 4] = [0.0, 0.25, 0.5, 0.75];

/// One keying condition: tones at −10 dBm0 each, `tone_ms` on and `tone_ms` off.
#[derive(Clone, Copy, Debug)]
struct Condition {
    under_db: f64,
    tone_ms: u32,
}

/// What one condition did over every clip and offset.
#[derive(Default)]
struct Outcome {
    mixes: usize,
    /// Mixes that lost at least one key, as (clip, offset in samples, what was heard).
    failed: Vec<(PathBuf, usize, Vec<Digit>)>,
    missed_keys: usize,
    extra_keys: usize,
}

/// (keys of `keyed` not heard, heard keys not keyed): the two sequences' differences around
/// their longest common subsequence.
fn compare(keyed: &[Digit], heard: &[Digit]) -> (usize, usize) {
    // lcs[j] = longest common subsequence of the keys so far and heard[..j].
    let mut lcs = vec![0usize; heard.len() + 1];
    for &k in keyed {
        let mut diagonal = 0;
        for (j, &h) in heard.iter().enumerate() {
            let above = lcs[j + 1];
            lcs[j + 1] = if k == h {
                diagonal + 1
            } else {
                above.max(lcs[j])
            };
            diagonal = above;
        }
    }
    let common = lcs[heard.len()];
    (keyed.len() - common, heard.len() - common)
}

fn mix(tones: &[i16], prompt: &[i16], skip: usize, gain: f64) -> Vec<i16> {
    tones
        .iter()
        .zip(prompt.iter().cycle().skip(skip))
        .map(|(&t, &p)| (f64::from(t) + gain * f64::from(p)).round() as i16)
        .collect()
}

fn measure(clips: &[(PathBuf, Vec<i16>)], condition: Condition) -> Outcome {
    let shape = ToneShape::level(-10.0);
    let tones = keyed(&KEYS, condition.tone_ms, condition.tone_ms, &shape);
    let mut outcome = Outcome::default();
    for (path, prompt) in clips {
        let prompt_power =
            prompt.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / prompt.len() as f64;
        let gain = (shape.power() / prompt_power / 10f64.powf(condition.under_db / 10.0)).sqrt();
        for fraction in OFFSETS {
            let skip = (fraction * prompt.len() as f64) as usize;
            let mut detector = InbandDetector::new();
            let heard: Vec<Digit> = mix(&tones, prompt, skip, gain)
                .chunks(160)
                .flat_map(|frame| detector.push(frame))
                .collect();
            let (missed, extra) = compare(&KEYS, &heard);
            outcome.mixes += 1;
            outcome.missed_keys += missed;
            outcome.extra_keys += extra;
            if heard != KEYS {
                outcome.failed.push((path.clone(), skip, heard));
            }
        }
    }
    outcome
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} of {} mixes lost or added a key; {} keys missed, {} extra",
            self.failed.len(),
            self.mixes,
            self.missed_keys,
            self.extra_keys
        )?;
        for (clip, skip, heard) in &self.failed {
            let clip = clip.file_name().unwrap_or_default().to_string_lossy();
            writeln!(f, "  {clip} from sample {skip}: heard {heard:?}")?;
        }
        Ok(())
    }
}

/// Measured (26 clips × 4 offsets = 104 mixes of 5 keys): before the talk-down fix 49, 8, 23 and 2
/// mixes failed in the order below; after it 10, 0, 0 and 0, never with an extra key. Every clip
/// counts, so a new prompt is measured too: the bound for the hardest case leaves room for a clip
/// or two that is hard to key over, not for a regression back to dozens. A new prompt that fails
/// the others is a prompt callers cannot barge in on: look at it before raising a bound.
#[test]
fn missed_and_extra_keys_are_counted_apart() {
    use Digit::*;
    assert_eq!(compare(&KEYS, &KEYS), (0, 0));
    assert_eq!(compare(&KEYS, &[D0, D1, D2, Pound]), (1, 0));
    assert_eq!(compare(&KEYS, &[D8, D0, D0, D1, D2, Pound]), (0, 1));
    assert_eq!(compare(&KEYS, &[D8, D1, Pound, D5]), (2, 1));
    assert_eq!(compare(&KEYS, &[]), (5, 0));
}

#[test]
fn keys_pressed_over_any_prompt_are_heard() {
    let clips = talk_off_clips();
    let cases = [
        // (condition, most mixes allowed to lose a key)
        (
            Condition {
                under_db: 10.0,
                tone_ms: 70,
            },
            13,
        ),
        (
            Condition {
                under_db: 15.0,
                tone_ms: 70,
            },
            0,
        ),
        (
            Condition {
                under_db: 10.0,
                tone_ms: 100,
            },
            0,
        ),
        (
            Condition {
                under_db: 15.0,
                tone_ms: 100,
            },
            0,
        ),
    ];
    let mut report = String::new();
    let mut failures = Vec::new();
    for (condition, allowed) in cases {
        let outcome = measure(&clips, condition);
        report.push_str(&format!("{condition:?}: {outcome}"));
        if outcome.extra_keys > 0 || outcome.failed.len() > allowed {
            failures.push(format!("{condition:?}: allowed {allowed} failed mixes"));
        }
    }
    println!("{report}");
    assert!(failures.is_empty(), "{failures:?}\n{report}");
}
