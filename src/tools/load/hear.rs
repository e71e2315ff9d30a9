//! What a caller heard, recognised frame by frame as the packets arrive. hotline sends the
//! pre-encoded frames of its [`PromptLibrary`] byte for byte, so a clip is heard when its frame
//! sequence appears in the received payloads (the approach of tests/support/rtp_peer.rs), but
//! here as a streaming matcher: a call keeps a few candidate positions, not its packets, so a
//! thousand calls cost no memory and each frame costs one comparison (or one hash lookup
//! between clips).

use std::collections::HashMap;

use crate::domain::{Clip, Prompt};
use crate::media::{Codec, Frame, PromptLibrary};

/// A clip found in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeardClip {
    pub clip: Clip,
    /// False when the stream left the clip before its end (a barge-in stopped it).
    pub complete: bool,
}

/// The library's clips in one codec, as patterns to find.
pub struct ClipTable {
    /// Each clip without its leading and trailing silence frames: silence is what the service
    /// sends between clips too, so only the audible part identifies a clip.
    patterns: Vec<(Clip, Vec<Frame>)>,
    /// First frame of a pattern → the patterns starting with it.
    by_first: HashMap<Frame, Vec<u16>>,
}

impl ClipTable {
    pub fn new(library: &PromptLibrary, codec: Codec) -> ClipTable {
        let silence = codec.silence_frame();
        let mut patterns = Vec::new();
        let mut by_first: HashMap<Frame, Vec<u16>> = HashMap::new();
        for clip in Clip::all() {
            let frames = library.frames(clip, codec);
            let start = frames.iter().position(|f| f != silence);
            let end = frames.iter().rposition(|f| f != silence);
            let (Some(start), Some(end)) = (start, end) else {
                continue; // an all-silent clip cannot be told apart from the pauses
            };
            let pattern = frames[start..=end].to_vec();
            by_first
                .entry(pattern[0])
                .or_default()
                .push(patterns.len() as u16);
            patterns.push((clip, pattern));
        }
        ClipTable { patterns, by_first }
    }
}

/// One call's recogniser state.
#[derive(Debug, Default)]
pub struct Listener {
    /// (pattern index, frames matched so far) of the clips the stream may be in.
    candidates: Vec<(u16, u32)>,
    heard: Vec<HeardClip>,
}

impl Listener {
    pub fn new() -> Listener {
        Listener {
            candidates: Vec::with_capacity(4),
            heard: Vec::with_capacity(32),
        }
    }

    /// Feeds one received audio frame; returns the clip whose start it is, if it is the start
    /// of exactly one clip (what a caller would react to).
    pub fn push(&mut self, table: &ClipTable, frame: &[u8]) -> Option<Clip> {
        if !self.candidates.is_empty() {
            let mut longest: Option<(u16, u32)> = None;
            let mut completed = None;
            self.candidates.retain_mut(|(i, matched)| {
                let pattern = &table.patterns[usize::from(*i)].1;
                if pattern.get(*matched as usize).map(|f| f.as_slice()) == Some(frame) {
                    *matched += 1;
                    if *matched as usize == pattern.len() {
                        completed.get_or_insert(*i);
                    }
                    true
                } else {
                    if longest.is_none_or(|(_, n)| *matched > n) {
                        longest = Some((*i, *matched));
                    }
                    false
                }
            });
            if let Some(i) = completed {
                self.candidates.clear();
                self.record(table, i, true);
                return None;
            }
            if !self.candidates.is_empty() {
                return None;
            }
            if let Some((i, _)) = longest {
                self.record(table, i, false);
            }
            // The frame that ended the clip may start the next one: fall through.
        }
        let starts = <&Frame>::try_from(frame)
            .ok()
            .and_then(|f| table.by_first.get(f))?;
        for &i in starts {
            if table.patterns[usize::from(i)].1.len() == 1 {
                self.record(table, i, true);
                return Some(table.patterns[usize::from(i)].0);
            }
            self.candidates.push((i, 1));
        }
        match self.candidates.as_slice() {
            [(only, _)] => Some(table.patterns[usize::from(*only)].0),
            _ => None,
        }
    }

    fn record(&mut self, table: &ClipTable, pattern: u16, complete: bool) {
        let clip = table.patterns[usize::from(pattern)].0;
        self.heard.push(HeardClip { clip, complete });
    }

    /// Ends the stream (a clip still in progress counts as cut short) and hands over what was
    /// heard. It may hold a password: the caller compares it and drops it, never shows it.
    pub fn finish(mut self, table: &ClipTable) -> Vec<HeardClip> {
        if let Some(&(i, _)) = self.candidates.iter().max_by_key(|(_, n)| *n) {
            self.record(table, i, false);
        }
        self.heard
    }
}

/// What the caller was told, as far as the generator tells outcomes apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HeardOutcome {
    Reset,
    Mismatch,
    TooManyAttempts,
    InvalidCode,
    NoInput,
    Anonymous,
    SystemBusy,
    Unknown,
}

impl HeardOutcome {
    pub const ALL: [HeardOutcome; 8] = [
        HeardOutcome::Reset,
        HeardOutcome::Mismatch,
        HeardOutcome::TooManyAttempts,
        HeardOutcome::InvalidCode,
        HeardOutcome::NoInput,
        HeardOutcome::Anonymous,
        HeardOutcome::SystemBusy,
        HeardOutcome::Unknown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HeardOutcome::Reset => "reset",
            HeardOutcome::Mismatch => "mismatch",
            HeardOutcome::TooManyAttempts => "too_many_attempts",
            HeardOutcome::InvalidCode => "invalid_code",
            HeardOutcome::NoInput => "no_input",
            HeardOutcome::Anonymous => "anonymous",
            HeardOutcome::SystemBusy => "system_busy",
            HeardOutcome::Unknown => "unknown",
        }
    }
}

/// The outcome of a call from the clips heard: `Reset` only when a new password was read in
/// full twice, the same six digits both times; otherwise the announcement that explains why.
pub fn classify(heard: &[HeardClip]) -> HeardOutcome {
    let complete: Vec<Clip> = heard
        .iter()
        .filter(|h| h.complete)
        .map(|h| h.clip)
        .collect();
    if password_read_twice(&complete) {
        return HeardOutcome::Reset;
    }
    let was_heard = |p: Prompt| heard.iter().any(|h| h.clip == Clip::Prompt(p));
    // The final announcements first: a call can hear "invalid code" and then a mismatch.
    [
        (Prompt::Mismatch, HeardOutcome::Mismatch),
        (Prompt::TooManyAttempts, HeardOutcome::TooManyAttempts),
        (Prompt::SystemBusy, HeardOutcome::SystemBusy),
        (Prompt::Anonymous, HeardOutcome::Anonymous),
        (Prompt::InvalidCode, HeardOutcome::InvalidCode),
        (Prompt::NoInput, HeardOutcome::NoInput),
    ]
    .into_iter()
    .find(|(p, _)| was_heard(*p))
    .map_or(HeardOutcome::Unknown, |(_, o)| o)
}

fn password_read_twice(clips: &[Clip]) -> bool {
    let digit = |c: &Clip| matches!(c, Clip::Digit(_));
    clips.windows(14).any(|w| {
        w[0] == Clip::Prompt(Prompt::NewPassword)
            && w[1..7].iter().all(digit)
            && w[7] == Clip::Prompt(Prompt::RepeatPassword)
            && w[8..14].iter().all(digit)
            && w[1..7] == w[8..14]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Prompt;

    fn heard(clips: &[Clip]) -> Vec<HeardClip> {
        clips
            .iter()
            .map(|&clip| HeardClip {
                clip,
                complete: true,
            })
            .collect()
    }

    fn reading(first: [u8; 6], second: [u8; 6]) -> Vec<Clip> {
        let mut clips = vec![Clip::Prompt(Prompt::NewPassword)];
        clips.extend(first.map(Clip::Digit));
        clips.push(Clip::Prompt(Prompt::RepeatPassword));
        clips.extend(second.map(Clip::Digit));
        clips.push(Clip::Prompt(Prompt::Goodbye));
        clips
    }

    #[test]
    fn a_password_read_twice_the_same_is_a_reset() {
        let same = reading([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]);
        assert_eq!(classify(&heard(&same)), HeardOutcome::Reset);
        let differs = reading([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 7]);
        assert_eq!(classify(&heard(&differs)), HeardOutcome::Unknown);
        let mut cut = heard(&same);
        cut[3].complete = false;
        assert_eq!(classify(&cut), HeardOutcome::Unknown);
    }

    #[test]
    fn other_endings_are_named_by_their_announcement() {
        let mismatch = [
            Clip::Prompt(Prompt::InvalidCode),
            Clip::Prompt(Prompt::Mismatch),
            Clip::Prompt(Prompt::Goodbye),
        ];
        assert_eq!(classify(&heard(&mismatch)), HeardOutcome::Mismatch);
        assert_eq!(
            classify(&heard(&[Clip::Prompt(Prompt::NoInput)])),
            HeardOutcome::NoInput
        );
        assert_eq!(classify(&[]), HeardOutcome::Unknown);
    }

    /// A library of three short synthetic clips, to watch the matcher frame by frame.
    fn table() -> (ClipTable, Vec<Vec<Frame>>) {
        let lib = crate::media::PromptLibrary::from_samples(Clip::all().map(|clip| {
            // Each clip: one silent frame, then 3 frames of a level unique to the clip (levels
            // far enough apart to stay distinct after G.711 quantisation).
            let level = match clip {
                Clip::Prompt(p) => 300 + 700 * p as i16,
                Clip::Digit(d) => 12_000 + 1800 * i16::from(d),
            };
            let mut samples = vec![0i16; 160];
            samples.extend(std::iter::repeat_n(level, 480));
            (clip, samples)
        }))
        .expect("synthetic library");
        let table = ClipTable::new(&lib, Codec::Pcmu);
        let frames = [Clip::Prompt(Prompt::Welcome), Clip::Digit(3)]
            .iter()
            .map(|&c| lib.frames(c, Codec::Pcmu).to_vec())
            .collect();
        (table, frames)
    }

    #[test]
    fn the_streaming_matcher_finds_whole_and_cut_clips() {
        let (table, clips) = table();
        let silence = *Codec::Pcmu.silence_frame();
        let mut listener = Listener::new();
        let mut started = Vec::new();
        // Welcome in full, silence, then the digit cut after 2 of its frames, then silence.
        let mut stream: Vec<Frame> = clips[0].clone();
        stream.push(silence);
        stream.extend_from_slice(&clips[1][..3]);
        stream.push(silence);
        for frame in &stream {
            started.extend(listener.push(&table, frame));
        }
        assert_eq!(started, [Clip::Prompt(Prompt::Welcome), Clip::Digit(3)]);
        let heard = listener.finish(&table);
        assert_eq!(
            heard,
            [
                HeardClip {
                    clip: Clip::Prompt(Prompt::Welcome),
                    complete: true
                },
                HeardClip {
                    clip: Clip::Digit(3),
                    complete: false
                },
            ]
        );
    }
}
