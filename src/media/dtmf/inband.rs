//! In-band DTMF detector to ITU-T Q.24: decoded 8 kHz linear PCM in, key presses out. Sans-I/O.
//!
//! Used when a trunk carries the keys as tones in the audio (no telephone-event negotiated). The
//! detector must hear a real press and never hear one in speech — least of all in our own prompts,
//! which is what the line carries while the caller keys. docs/dtmf.md has the design, the measured
//! quality table and the cost; the short version:
//!
//! * **Analysis.** Audio is cut into 5 ms *quarters* (40 samples). For each quarter and each of 16
//!   probe frequencies (the 8 DTMF tones and their second harmonics) we take one DFT coefficient —
//!   Goertzel's single-bin DFT, computed directly against a precomputed table. Every 5 ms the last
//!   four quarters form a 20 ms *block* (N = 160, bins 50 Hz wide, hop 5 ms).
//! * **Per block** a digit is *heard* only if all the checks pass: a strongest row and column that
//!   each beat the rest of their group by [`RELATIVE_PEAK_DB`]; each tone's frequency, estimated from
//!   the phase advance between quarters, within [`MAX_DEVIATION`] of nominal (accept ±1.5 %, reject
//!   ±3.5 %); each tone at least [`MIN_TONE_DBM0`]; twist within [`MAX_NORMAL_TWIST_DB`] /
//!   [`MAX_REVERSE_TWIST_DB`]; the two tones carry at least [`MIN_TONE_FRACTION`] of the block's
//!   energy; and no strong second harmonic (speech is full of harmonics, DTMF has none).
//! * **Over time** ([`debounce`]) a press is *confirmed* once [`CONFIRM_BLOCKS`] of the last
//!   [`CONFIRM_WINDOW`] blocks agree (40 ms tones always pass, 20 ms never can; the window lets a
//!   press through speech that masks a few of its blocks), reported once, and *released* after
//!   [`RELEASE_BLOCKS`] blocks with its tones gone, so a 40 ms pause separates two presses of the
//!   same key while speech masking a press does not split it.

mod debounce;

pub use debounce::{CONFIRM_BLOCKS, CONFIRM_WINDOW, RELEASE_BLOCKS};

use super::tone::{COL_HZ, KEYPAD, ROW_HZ, SAMPLE_RATE, position, tone_power};
use crate::domain::Digit;
use debounce::{Block, Debouncer};
use std::f64::consts::TAU;

/// Samples per quarter: the phase-measurement step (5 ms).
const QUARTER: usize = 40;
/// Quarters per analysis block.
const QUARTERS: usize = 4;
/// Samples per analysis block (20 ms): 50 Hz bins separate neighbouring rows (73 Hz apart).
const BLOCK: usize = QUARTER * QUARTERS;

/// Each tone must be at least this loud. Q.24 wants 0 … −26 dBm0 accepted (we also take the
/// −36 dBm0 that RFC 4733 senders may signal) and below −45 dBm0 rejected; −40 splits the gap.
pub const MIN_TONE_DBM0: f64 = -40.0;
/// Largest accepted relative frequency error of either tone: Q.24 accepts ±1.5 % and rejects
/// beyond ±3.5 %; 2.5 % is halfway, leaving ±1 % for noise in the phase estimate.
pub const MAX_DEVIATION: f64 = 0.025;
/// Normal twist (low group louder) accepted up to this; Q.24 asks 8 dB.
pub const MAX_NORMAL_TWIST_DB: f64 = 10.0;
/// Reverse twist (high group louder) accepted up to this; Q.24 asks 4 dB, and 14 dB must fail.
pub const MAX_REVERSE_TWIST_DB: f64 = 7.0;
/// The strongest tone of a group must beat every other tone of that group by this much. 8 dB, as
/// in Asterisk's and spandsp's detectors: it was 10 dB, which speech under a press (a caller
/// keying over our prompt) broke in one block in 15 at 10 dB below the tones, for no talk-off
/// margin measured on our prompts and the speech corpus (none of it passes a block at either).
pub const RELATIVE_PEAK_DB: f64 = 8.0;
/// The pair must carry this share of the block's energy. A clean pair carries ~100 %, one in
/// 15 dB white noise ~97 %; speech rarely puts 60 % of 20 ms into two narrow lines. A tone that
/// fills only part of a block carries about that part, which also keeps short blips out. It was
/// 75 %: a syllable of our prompt 10 dB (mean power) under the tones is louder than that mean and
/// pushed the pair's share below 75 % in one block in 17. At 60 % a few blocks of speech pass
/// every check — the price of hearing barge-in: our prompts still pass none, but the espeak-ng
/// corpus would give 2 false digits to a detector confirming after 1 block, 1 after 2 and none
/// from 3 on (75 % gave none even at 1); the service confirms after 5.
pub const MIN_TONE_FRACTION: f64 = 0.6;
/// A tone's second harmonic must be at least this far below it.
pub const MIN_HARMONIC_GAP_DB: f64 = 12.0;

/// A second harmonic of a row tone closer than this to the column tone is not checked: with 50 Hz
/// bins the column tone itself would leak into the harmonic's bin (697 Hz × 2 = 1394 Hz sits
/// between 1336 and 1477 Hz).
const HARMONIC_CLEARANCE_HZ: f64 = 100.0;

/// Probe order: 4 rows, 4 columns, then their second harmonics in the same order.
const PROBES: usize = 16;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Complex {
    re: f64,
    im: f64,
}

impl Complex {
    fn from_angle(angle: f64) -> Complex {
        Complex {
            re: angle.cos(),
            im: angle.sin(),
        }
    }
    fn mul(self, o: Complex) -> Complex {
        Complex {
            re: self.re * o.re - self.im * o.im,
            im: self.re * o.im + self.im * o.re,
        }
    }
    fn conj(self) -> Complex {
        Complex {
            re: self.re,
            im: -self.im,
        }
    }
    fn add(self, o: Complex) -> Complex {
        Complex {
            re: self.re + o.re,
            im: self.im + o.im,
        }
    }
    fn norm_sqr(self) -> f64 {
        self.re * self.re + self.im * self.im
    }
    fn arg(self) -> f64 {
        self.im.atan2(self.re)
    }
}

/// What one 5 ms quarter contributed: its DFT coefficient at each probe (phase relative to the
/// quarter's first sample) and its energy.
#[derive(Clone, Copy, Debug, Default)]
struct Quarter {
    bins: [Complex; PROBES],
    energy: f64,
}

/// Why a block was not heard as a digit: names each check, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Miss {
    NotDominant,
    OffFrequency,
    TooWeak,
    Twist,
    NotTonal,
    Harmonic,
}

/// Precomputed per-probe tables.
#[derive(Debug)]
struct Probes {
    hz: [f64; PROBES],
    /// `e^{-jωn}` for n in one quarter.
    twiddle: [[Complex; QUARTER]; PROBES],
    /// `e^{-jω·QUARTER}`: carries a quarter's phase reference to the next quarter's.
    step: [Complex; PROBES],
}

impl Probes {
    fn new() -> Probes {
        let mut hz = [0.0; PROBES];
        for (i, f) in ROW_HZ.iter().chain(COL_HZ.iter()).enumerate() {
            hz[i] = *f;
            hz[i + 8] = 2.0 * f;
        }
        let mut twiddle = [[Complex::default(); QUARTER]; PROBES];
        let mut step = [Complex::default(); PROBES];
        for p in 0..PROBES {
            let w = TAU * hz[p] / SAMPLE_RATE;
            for (n, t) in twiddle[p].iter_mut().enumerate() {
                *t = Complex::from_angle(-w * n as f64);
            }
            step[p] = Complex::from_angle(-w * QUARTER as f64);
        }
        Probes { hz, twiddle, step }
    }
}

/// Hears DTMF key presses in 8 kHz linear PCM. One per call direction; keeps state across frames,
/// so frames may be any length and need not align with anything.
#[derive(Debug)]
pub struct InbandDetector {
    probes: Probes,
    /// Samples of the quarter being filled.
    pending: [i16; QUARTER],
    pending_len: usize,
    /// The last [`QUARTERS`] quarters, oldest first once `filled` reaches QUARTERS.
    quarters: [Quarter; QUARTERS],
    filled: usize,
    /// The timing rules, fed one verdict per block.
    debounce: Debouncer,
}

impl Default for InbandDetector {
    fn default() -> Self {
        InbandDetector::new()
    }
}

impl InbandDetector {
    pub fn new() -> InbandDetector {
        InbandDetector {
            probes: Probes::new(),
            pending: [0; QUARTER],
            pending_len: 0,
            quarters: [Quarter::default(); QUARTERS],
            filled: 0,
            debounce: Debouncer::new(CONFIRM_BLOCKS),
        }
    }

    /// A detector that confirms a press after `blocks` agreeing blocks instead of
    /// [`CONFIRM_BLOCKS`]. Only for measuring the talk-off margin (how many fewer blocks our prompts
    /// would need to fool it: see `benches/dtmf_quality.rs`); the service uses [`Self::new`].
    pub fn with_confirm_blocks(blocks: u32) -> InbandDetector {
        InbandDetector {
            debounce: Debouncer::new(blocks),
            ..InbandDetector::new()
        }
    }

    /// Feeds decoded audio (any length, e.g. one 160-sample frame); returns the key presses that
    /// were *confirmed* in it (normally 0 or 1), each reported once per press.
    pub fn push(&mut self, samples: &[i16]) -> Vec<Digit> {
        let mut out = Vec::new();
        for &s in samples {
            if let Some(slot) = self.pending.get_mut(self.pending_len) {
                *slot = s;
            }
            self.pending_len += 1;
            if self.pending_len == QUARTER {
                self.pending_len = 0;
                let quarter = self.analyse_quarter();
                self.quarters.rotate_left(1);
                self.quarters[QUARTERS - 1] = quarter;
                self.filled = (self.filled + 1).min(QUARTERS);
                if self.filled == QUARTERS {
                    let block = self.judge_block();
                    out.extend(self.debounce.track(block));
                }
            }
        }
        out
    }

    fn analyse_quarter(&self) -> Quarter {
        let mut q = Quarter::default();
        for (&s, n) in self.pending.iter().zip(0..) {
            let x = f64::from(s);
            q.energy += x * x;
            for (bin, table) in q.bins.iter_mut().zip(&self.probes.twiddle) {
                let t = table[n];
                bin.re += x * t.re;
                bin.im += x * t.im;
            }
        }
        q
    }

    /// The current block's verdict, and the level of the pair the timing rules follow.
    fn judge_block(&self) -> Block {
        // Quieter than the weakest tone we accept: no press here, and none still sounding.
        let Some(groups) = Groups::measure(&self.probes, &self.quarters) else {
            return Block {
                heard: None,
                pair_power: 0.0,
            };
        };
        let heard = classify(&self.probes, &self.quarters, &groups).ok();
        let pair_power = heard
            .or(self.debounce.held())
            .map_or(0.0, |digit| groups.pair_power(digit));
        Block { heard, pair_power }
    }
}

/// A tone's measurements in one block.
#[derive(Clone, Copy, Debug)]
struct ToneFit {
    /// Power at the nominal frequency (coherent over the block), linear units².
    coherent: f64,
    /// Power at the estimated frequency: the same sum after undoing the measured phase drift.
    power: f64,
    /// Estimated relative frequency error.
    deviation: f64,
}

/// Block-wide sums for probe `p`, each quarter's coefficient carried to the block's phase reference.
fn aligned(probes: &Probes, quarters: &[Quarter; QUARTERS], p: usize) -> [Complex; QUARTERS] {
    let mut out = [Complex::default(); QUARTERS];
    let mut rot = Complex { re: 1.0, im: 0.0 };
    for (o, q) in out.iter_mut().zip(quarters) {
        *o = q.bins[p].mul(rot);
        rot = rot.mul(probes.step[p]);
    }
    out
}

/// Scales |Σ x·e^{-jωn}|² over a block to the mean power of a sine: a sine of amplitude A gives
/// |X| = A·N/2, whose power is A²/2.
fn to_power(sum_sqr: f64) -> f64 {
    2.0 * sum_sqr / (BLOCK * BLOCK) as f64
}

fn coherent_power(probes: &Probes, quarters: &[Quarter; QUARTERS], p: usize) -> f64 {
    let sum = aligned(probes, quarters, p)
        .iter()
        .fold(Complex::default(), |a, &b| a.add(b));
    to_power(sum.norm_sqr())
}

fn fit(probes: &Probes, quarters: &[Quarter; QUARTERS], p: usize) -> ToneFit {
    let x = aligned(probes, quarters, p);
    // Pulse-pair estimate: a tone δ Hz off the probe advances by 2πδ·QUARTER/fs per quarter.
    // Unambiguous to ±100 Hz (6 % of the highest tone); further off, the bin is empty anyway.
    let mut drift = Complex::default();
    for pair in x.windows(2) {
        drift = drift.add(pair[1].mul(pair[0].conj()));
    }
    let advance = drift.arg();
    let deviation = advance * SAMPLE_RATE / (TAU * QUARTER as f64) / probes.hz[p];
    let undo = Complex::from_angle(-advance);
    let mut rot = Complex { re: 1.0, im: 0.0 };
    let mut sum = Complex::default();
    let mut coherent = Complex::default();
    for q in x {
        sum = sum.add(q.mul(rot));
        coherent = coherent.add(q);
        rot = rot.mul(undo);
    }
    ToneFit {
        coherent: to_power(coherent.norm_sqr()),
        power: to_power(sum.norm_sqr()),
        deviation,
    }
}

fn db(ratio: f64) -> f64 {
    10f64.powf(ratio / 10.0)
}

/// Index of the strongest of `powers`, if it beats every other by [`RELATIVE_PEAK_DB`].
fn dominant(powers: &[f64; 4]) -> Option<usize> {
    let (best, &top) = powers
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))?;
    let clear = powers
        .iter()
        .enumerate()
        .all(|(i, &p)| i == best || p * db(RELATIVE_PEAK_DB) <= top);
    clear.then_some(best)
}

/// A block's energy and its power at each nominal row and column frequency.
struct Groups {
    /// Mean power of the block.
    total: f64,
    rows: [f64; 4],
    cols: [f64; 4],
}

impl Groups {
    /// None when the whole block is quieter than the weakest tone we accept.
    fn measure(probes: &Probes, quarters: &[Quarter; QUARTERS]) -> Option<Groups> {
        let total = quarters.iter().map(|q| q.energy).sum::<f64>() / BLOCK as f64;
        if total < tone_power(MIN_TONE_DBM0) {
            return None;
        }
        let powers = |first: usize| -> [f64; 4] {
            std::array::from_fn(|i| coherent_power(probes, quarters, first + i))
        };
        Some(Groups {
            total,
            rows: powers(0),
            cols: powers(4),
        })
    }

    /// Power of `digit`'s two tones if each is the strongest of its group (0 otherwise): is a
    /// press still sounding under whatever masks it?
    fn pair_power(&self, digit: Digit) -> f64 {
        let (r, c) = position(digit);
        let strongest = |p: &[f64; 4], i: usize| p.iter().all(|&x| x <= p[i]);
        if strongest(&self.rows, r) && strongest(&self.cols, c) {
            self.rows[r] + self.cols[c]
        } else {
            0.0
        }
    }
}

/// One block's verdict, past the quiet check ([`Groups::measure`]).
fn classify(
    probes: &Probes,
    quarters: &[Quarter; QUARTERS],
    groups: &Groups,
) -> Result<Digit, Miss> {
    let min_tone = tone_power(MIN_TONE_DBM0);
    let (Some(r), Some(c)) = (dominant(&groups.rows), dominant(&groups.cols)) else {
        return Err(Miss::NotDominant);
    };
    let row = fit(probes, quarters, r);
    let col = fit(probes, quarters, c + 4);
    if row.deviation.abs() > MAX_DEVIATION || col.deviation.abs() > MAX_DEVIATION {
        return Err(Miss::OffFrequency);
    }
    if row.power < min_tone || col.power < min_tone {
        return Err(Miss::TooWeak);
    }
    if row.power > col.power * db(MAX_NORMAL_TWIST_DB)
        || col.power > row.power * db(MAX_REVERSE_TWIST_DB)
    {
        return Err(Miss::Twist);
    }
    if row.power + col.power < MIN_TONE_FRACTION * groups.total {
        return Err(Miss::NotTonal);
    }
    let gap = db(MIN_HARMONIC_GAP_DB);
    if coherent_power(probes, quarters, c + 12) * gap > col.coherent {
        return Err(Miss::Harmonic);
    }
    let row_clear = (2.0 * ROW_HZ[r] - COL_HZ[c]).abs() >= HARMONIC_CLEARANCE_HZ;
    if row_clear && coherent_power(probes, quarters, r + 8) * gap > row.coherent {
        return Err(Miss::Harmonic);
    }
    Ok(KEYPAD[r][c])
}

#[cfg(test)]
mod tests;
