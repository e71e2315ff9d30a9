//! The playback queue of one call, sans-I/O: asked for one frame every 20 ms, it answers with
//! the next frame of the queued clips, or silence, and says when a playback has finished.

use std::collections::VecDeque;

use super::codec::{Codec, Frame};
use super::prompts::PromptLibrary;
use crate::domain::{Clip, PlaybackId};

/// What to send this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick<'a> {
    pub frame: &'a Frame,
    /// Set on the tick that sends the last frame of a playback.
    pub finished: Option<PlaybackId>,
}

#[derive(Debug)]
struct Playback {
    id: PlaybackId,
    /// The clip playing now is the front one.
    clips: VecDeque<Clip>,
    /// Index of the next frame of the front clip.
    frame: usize,
}

/// One call's playback state. Holds clips, not audio: frames are borrowed from the shared
/// [`PromptLibrary`] at each tick.
#[derive(Debug, Default)]
pub struct Player {
    playing: Option<Playback>,
}

impl Player {
    pub fn new() -> Player {
        Player::default()
    }

    /// Replaces whatever is playing (barge-in and re-prompts both want that). The replaced
    /// playback gets no "finished": it did not finish.
    pub fn play(&mut self, id: PlaybackId, clips: Vec<Clip>) {
        self.playing = Some(Playback {
            id,
            clips: clips.into(),
            frame: 0,
        });
    }

    /// Stops at once; silence from the next tick, and no "finished" for the stopped playback.
    pub fn stop(&mut self) {
        self.playing = None;
    }

    pub fn is_playing(&self) -> bool {
        self.playing.is_some()
    }

    /// The frame to send now. An empty playback finishes on the first tick (with silence).
    pub fn next_frame<'a>(&mut self, library: &'a PromptLibrary, codec: Codec) -> Tick<'a> {
        let silence = Tick {
            frame: codec.silence_frame(),
            finished: None,
        };
        loop {
            let Some(playback) = self.playing.as_mut() else {
                return silence;
            };
            let Some(&clip) = playback.clips.front() else {
                let finished = Some(playback.id);
                self.playing = None;
                return Tick {
                    finished,
                    ..silence
                };
            };
            let frames = library.frames(clip, codec);
            let Some(frame) = frames.get(playback.frame) else {
                // A clip without frames: nothing to play, move on.
                playback.clips.pop_front();
                playback.frame = 0;
                continue;
            };
            playback.frame += 1;
            if playback.frame < frames.len() {
                return Tick {
                    frame,
                    finished: None,
                };
            }
            playback.clips.pop_front();
            playback.frame = 0;
            let finished = playback.clips.is_empty().then_some(playback.id);
            if finished.is_some() {
                self.playing = None;
            }
            return Tick { frame, finished };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Prompt;
    use crate::media::prompts::tests::test_library;

    const CODEC: Codec = Codec::Pcma;

    /// Runs the player for `ticks` ticks and returns the frames sent and the finish notices
    /// with the tick they came on.
    fn run(
        player: &mut Player,
        library: &PromptLibrary,
        ticks: usize,
    ) -> (Vec<Frame>, Vec<(usize, PlaybackId)>) {
        let mut frames = Vec::new();
        let mut finished = Vec::new();
        for n in 0..ticks {
            let tick = player.next_frame(library, CODEC);
            frames.push(*tick.frame);
            if let Some(id) = tick.finished {
                finished.push((n, id));
            }
        }
        (frames, finished)
    }

    fn frames_of(library: &PromptLibrary, clips: &[Clip]) -> Vec<Frame> {
        clips
            .iter()
            .flat_map(|&c| library.frames(c, CODEC).iter().copied())
            .collect()
    }

    #[test]
    fn idle_is_silence() {
        let library = test_library();
        let mut player = Player::new();
        let (frames, finished) = run(&mut player, &library, 3);
        assert!(frames.iter().all(|f| f == CODEC.silence_frame()));
        assert!(finished.is_empty());
    }

    #[test]
    fn plays_the_queue_in_order_then_silence_and_finishes_on_the_last_frame() {
        let library = test_library();
        let clips = [
            Clip::Prompt(Prompt::NewPassword),
            Clip::Digit(2),
            Clip::Digit(7),
        ];
        let expected = frames_of(&library, &clips);
        let mut player = Player::new();
        player.play(PlaybackId(4), clips.to_vec());
        let (frames, finished) = run(&mut player, &library, expected.len() + 2);
        assert_eq!(&frames[..expected.len()], &expected[..]);
        assert!(
            frames[expected.len()..]
                .iter()
                .all(|f| f == CODEC.silence_frame())
        );
        assert_eq!(finished, [(expected.len() - 1, PlaybackId(4))]);
        assert!(!player.is_playing());
    }

    #[test]
    fn play_replaces_without_finishing_the_replaced_playback() {
        let library = test_library();
        let mut player = Player::new();
        player.play(PlaybackId(1), vec![Clip::Prompt(Prompt::Menu)]);
        let (_, finished) = run(&mut player, &library, 2);
        assert!(finished.is_empty());
        player.play(PlaybackId(2), vec![Clip::Digit(0)]);
        let expected = frames_of(&library, &[Clip::Digit(0)]);
        let (frames, finished) = run(&mut player, &library, expected.len());
        assert_eq!(frames, expected);
        assert_eq!(finished, [(expected.len() - 1, PlaybackId(2))]);
    }

    #[test]
    fn stop_switches_to_silence_with_no_finish() {
        let library = test_library();
        let mut player = Player::new();
        player.play(PlaybackId(1), vec![Clip::Prompt(Prompt::Welcome)]);
        run(&mut player, &library, 1);
        player.stop();
        let (frames, finished) = run(&mut player, &library, 50);
        assert!(frames.iter().all(|f| f == CODEC.silence_frame()));
        assert!(finished.is_empty());
    }

    #[test]
    fn an_empty_playback_finishes_at_once() {
        let library = test_library();
        let mut player = Player::new();
        player.play(PlaybackId(9), vec![]);
        let (frames, finished) = run(&mut player, &library, 2);
        assert_eq!(finished, [(0, PlaybackId(9))]);
        assert_eq!(&frames[0], CODEC.silence_frame());
    }
}
