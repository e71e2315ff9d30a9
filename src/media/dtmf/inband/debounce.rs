//! The in-band detector's timing rules: per-block verdicts in, each key press out once.
//!
//! A press is *confirmed* when [`CONFIRM_BLOCKS`] of the last [`CONFIRM_WINDOW`] blocks heard the
//! same digit and none of them heard another. Counting agreeing blocks in a window, rather than
//! demanding an unbroken run, is what lets a key pressed over speech through: speech under the
//! tones (our own prompt echoing back while the caller barges in) knocks single 20 ms blocks below
//! the per-block checks, and one such block used to restart the count, so a 70 ms press with two
//! masked blocks in the wrong places was lost. The number of agreeing blocks — and so the talk-off
//! margin, which rests on how many blocks of speech pass every per-block check — is unchanged.
//!
//! A press is *released* after [`RELEASE_BLOCKS`] blocks in which its tones are gone. A block that
//! misses the digit while the held pair is still plainly there — its row and column still the
//! strongest of their groups and together within [`HOLD_DB`] of the press's level: speech masking
//! the press, not a pause — neither counts toward the release nor restarts it. So a masked stretch
//! inside one press cannot split it in two, while a real pause (the tones gone, whatever else the
//! line carries) still ends it.

use crate::domain::Digit;

/// Agreeing blocks that confirm a press. Blocks start every 5 ms and span 20 ms, and one is heard
/// only if the tone fills at least 60 % of it (the energy ratio): a 20 ms tone fills at most 4
/// blocks that far, so it never passes; a 40 ms tone fills at least 7, so it always does.
pub const CONFIRM_BLOCKS: u32 = 5;
/// The window, in blocks, that the agreeing blocks must fall in (40 ms of block starts): up to
/// three masked blocks may sit among the five.
pub const CONFIRM_WINDOW: u32 = 8;
/// Blocks with the held tones gone that end a press. Any 40 ms pause gives at least 7: the blocks
/// less than half filled by a tone.
pub const RELEASE_BLOCKS: u32 = 5;

/// A block in which the held pair keeps at least this share of the press's level (−6 dB) still
/// holds the press. A tone filling half a block has a quarter of the full power, so a block at
/// the edge of a real pause falls below it as soon as the pause fills half of it.
pub const HOLD_DB: f64 = 6.0;

/// What the analysis says about one block.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Block {
    /// The digit every per-block check accepted, if any.
    pub heard: Option<Digit>,
    /// Power of the heard digit's pair; if none was heard, of the held press's pair when its row
    /// and column are still the strongest of their groups (0 otherwise). Linear units².
    pub pair_power: f64,
}

#[derive(Debug)]
pub struct Debouncer {
    confirm_blocks: u32,
    /// The digit the recent blocks heard, and which of the last [`CONFIRM_WINDOW`] blocks heard
    /// it (bit 0 = the latest block).
    candidate: Option<Digit>,
    agreeing: u32,
    /// The press already reported and not yet released, its strongest block's pair power, and
    /// its blocks with the tones gone.
    held: Option<Digit>,
    held_power: f64,
    missing: u32,
}

const WINDOW_MASK: u32 = (1 << CONFIRM_WINDOW) - 1;

impl Debouncer {
    /// Confirms after `confirm_blocks` agreeing blocks (at most [`CONFIRM_WINDOW`]).
    pub fn new(confirm_blocks: u32) -> Debouncer {
        Debouncer {
            confirm_blocks: confirm_blocks.clamp(1, CONFIRM_WINDOW),
            candidate: None,
            agreeing: 0,
            held: None,
            held_power: 0.0,
            missing: 0,
        }
    }

    /// The press reported and not yet released.
    pub fn held(&self) -> Option<Digit> {
        self.held
    }

    /// One block in; the press it confirms, if it confirms one.
    pub fn track(&mut self, block: Block) -> Option<Digit> {
        self.track_candidate(block.heard);
        self.track_release(block);
        if self.agreeing.count_ones() >= self.confirm_blocks && self.held != self.candidate {
            self.held = self.candidate;
            self.held_power = block.pair_power;
            self.missing = 0;
            return self.candidate;
        }
        None
    }

    fn track_candidate(&mut self, heard: Option<Digit>) {
        match heard {
            // Another digit: whatever was building up is not one press of it.
            Some(d) if self.candidate != Some(d) => {
                self.candidate = Some(d);
                self.agreeing = 1;
            }
            _ => self.agreeing = (self.agreeing << 1 | u32::from(heard.is_some())) & WINDOW_MASK,
        }
        if self.agreeing == 0 {
            self.candidate = None;
        }
    }

    fn track_release(&mut self, block: Block) {
        let Some(held) = self.held else { return };
        if block.heard == Some(held) {
            self.missing = 0;
            self.held_power = self.held_power.max(block.pair_power);
        } else if block.heard.is_some()
            || block.pair_power * 10f64.powf(HOLD_DB / 10.0) < self.held_power
        {
            self.missing += 1;
            if self.missing >= RELEASE_BLOCKS {
                self.held = None;
                // Blocks heard before the pause belong to the press that ended.
                if self.candidate == Some(held) {
                    self.candidate = None;
                    self.agreeing = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `blocks` through a fresh debouncer: 'k' heard key 5 at power 1, 'm' masked (not
    /// heard, the pair still at power 1), '.' the tones gone, 'x' key 9 heard.
    fn run(blocks: &str) -> Vec<Digit> {
        let mut debouncer = Debouncer::new(CONFIRM_BLOCKS);
        blocks
            .chars()
            .filter_map(|c| {
                let (heard, pair_power) = match c {
                    'k' => (Some(Digit::D5), 1.0),
                    'm' => (None, 1.0),
                    'x' => (Some(Digit::D9), 1.0),
                    _ => (None, 0.0),
                };
                debouncer.track(Block { heard, pair_power })
            })
            .collect()
    }

    #[test]
    fn five_agreeing_blocks_in_the_window_confirm_once() {
        assert_eq!(run("kkkkk....."), [Digit::D5]);
        assert_eq!(run("kk.k.kk..."), [Digit::D5]);
        assert_eq!(run("kkkk......"), []);
        // Spread wider than the window: never five within eight.
        assert_eq!(run("k..k..k..k..k"), []);
    }

    #[test]
    fn another_digit_restarts_the_count() {
        assert_eq!(run("kkkxkk....."), []);
        assert_eq!(run("kkkxxxxx..."), [Digit::D9]);
    }

    #[test]
    fn a_masked_stretch_does_not_split_a_press() {
        assert_eq!(run("kkkkkmmmmmmmmkkkkkk....."), [Digit::D5]);
        assert_eq!(run("kkkkk.....kkkkk....."), [Digit::D5, Digit::D5]);
        // Four blocks with the tones gone are a dropout, not a pause.
        assert_eq!(run("kkkkk....kkkkk....."), [Digit::D5]);
    }
}
