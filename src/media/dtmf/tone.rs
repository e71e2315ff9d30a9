//! DTMF tone pairs: the keypad's frequencies, and a generator for test signals.
//!
//! The frequencies are shared by the in-band detector (what to listen for) and by the generator
//! (what to say), so the two can never disagree. The generator exists for the detector's unit tests
//! and its quality benchmark (`benches/dtmf_quality.rs`), and for any tool that needs to key digits
//! into an audio stream: it makes tones with a chosen frequency error, level, twist and white noise,
//! all deterministic (the noise comes from a seeded generator) so a failing case can be replayed.
//!
//! # Level convention
//! 0 dBm0 is a sine of peak amplitude [`DBM0_PEAK`] = 22,700 in 16-bit linear PCM, 3.17 dB below a
//! full-scale sine — G.711's digital milliwatt (ITU-T G.711 puts the overload point at +3.17 dBm0).
//! Levels are per tone, as ITU-T Q.24 states them; two tones at 0 dBm0 each exceed full scale
//! together and are clipped, as a real codec would.

use crate::domain::Digit;

/// The sample rate of every telephone codec we speak (G.711).
pub const SAMPLE_RATE: f64 = 8000.0;

/// Peak amplitude of a 0 dBm0 sine in 16-bit linear PCM (see the module docs).
pub const DBM0_PEAK: f64 = 22_700.0;

/// The low (row) group, Hz.
pub const ROW_HZ: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
/// The high (column) group, Hz.
pub const COL_HZ: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// The keypad: `KEYPAD[row][col]`.
pub const KEYPAD: [[Digit; 4]; 4] = [
    [Digit::D1, Digit::D2, Digit::D3, Digit::A],
    [Digit::D4, Digit::D5, Digit::D6, Digit::B],
    [Digit::D7, Digit::D8, Digit::D9, Digit::C],
    [Digit::Star, Digit::D0, Digit::Pound, Digit::D],
];

/// The (row, column) indices of `digit` on the keypad.
pub fn position(digit: Digit) -> (usize, usize) {
    for (r, row) in KEYPAD.iter().enumerate() {
        if let Some(c) = row.iter().position(|d| *d == digit) {
            return (r, c);
        }
    }
    // Unreachable: KEYPAD holds all sixteen keys (tested below).
    (0, 0)
}

/// The nominal (low, high) frequencies of `digit`, Hz.
pub fn frequencies(digit: Digit) -> (f64, f64) {
    let (r, c) = position(digit);
    (ROW_HZ[r], COL_HZ[c])
}

/// Mean power (in linear PCM units squared) of a sine at `dbm0`.
pub fn tone_power(dbm0: f64) -> f64 {
    let peak = DBM0_PEAK * 10f64.powf(dbm0 / 20.0);
    peak * peak / 2.0
}

/// How a generated key press deviates from a perfect one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ToneShape {
    /// Level of the low-group tone, dBm0.
    pub low_dbm0: f64,
    /// Level of the high-group tone, dBm0.
    pub high_dbm0: f64,
    /// Relative frequency error of the low tone (0.015 = +1.5 %).
    pub low_deviation: f64,
    /// Relative frequency error of the high tone.
    pub high_deviation: f64,
}

impl Default for ToneShape {
    /// A clean press at −10 dBm0 per tone, the level telephone sets aim for.
    fn default() -> Self {
        ToneShape {
            low_dbm0: -10.0,
            high_dbm0: -10.0,
            low_deviation: 0.0,
            high_deviation: 0.0,
        }
    }
}

impl ToneShape {
    /// Both tones at `dbm0`.
    pub fn level(dbm0: f64) -> Self {
        ToneShape {
            low_dbm0: dbm0,
            high_dbm0: dbm0,
            ..Self::default()
        }
    }

    /// Both tones off by the same relative `deviation`.
    pub fn deviation(deviation: f64) -> Self {
        ToneShape {
            low_deviation: deviation,
            high_deviation: deviation,
            ..Self::default()
        }
    }

    /// Twist in dB around −10 dBm0: positive = normal twist (the low group louder), negative =
    /// reverse twist (the high group louder). The louder tone stays at −10 dBm0.
    pub fn twist(db: f64) -> Self {
        let (low, high) = if db >= 0.0 {
            (-10.0, -10.0 - db)
        } else {
            (-10.0 + db, -10.0)
        };
        ToneShape {
            low_dbm0: low,
            high_dbm0: high,
            ..Self::default()
        }
    }

    /// Mean power of the pair (the two tones are uncorrelated over any useful span).
    pub fn power(&self) -> f64 {
        tone_power(self.low_dbm0) + tone_power(self.high_dbm0)
    }
}

/// `ms` milliseconds of `digit` shaped by `shape`, clipped to 16 bits.
pub fn tone(digit: Digit, ms: u32, shape: &ToneShape) -> Vec<i16> {
    let (low, high) = frequencies(digit);
    let low = low * (1.0 + shape.low_deviation);
    let high = high * (1.0 + shape.high_deviation);
    let a_low = DBM0_PEAK * 10f64.powf(shape.low_dbm0 / 20.0);
    let a_high = DBM0_PEAK * 10f64.powf(shape.high_dbm0 / 20.0);
    let w_low = std::f64::consts::TAU * low / SAMPLE_RATE;
    let w_high = std::f64::consts::TAU * high / SAMPLE_RATE;
    (0..samples_in(ms))
        .map(|n| {
            let t = n as f64;
            clip(a_low * (w_low * t).sin() + a_high * (w_high * t).sin())
        })
        .collect()
}

/// `ms` milliseconds of digital silence.
pub fn silence(ms: u32) -> Vec<i16> {
    vec![0; samples_in(ms)]
}

/// The number of samples in `ms` milliseconds at 8 kHz.
pub fn samples_in(ms: u32) -> usize {
    ms as usize * 8
}

/// Adds white Gaussian noise of mean power `signal_power / 10^(snr_db/10)` to `samples`, from a
/// generator seeded with `seed` (same seed, same noise).
pub fn add_noise(samples: &mut [i16], signal_power: f64, snr_db: f64, seed: u64) {
    let sigma = (signal_power / 10f64.powf(snr_db / 10.0)).sqrt();
    let mut rng = SplitMix64(seed);
    for s in samples {
        *s = clip(f64::from(*s) + sigma * rng.gaussian());
    }
}

fn clip(x: f64) -> i16 {
    // `as` saturates; rounding first keeps small signals unbiased.
    x.round() as i16
}

/// SplitMix64: tiny, seedable, and good enough for test noise (not for anything secret).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Standard normal, by Box–Muller.
    fn gaussian(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn power(samples: &[i16]) -> f64 {
        samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64
    }

    #[test]
    fn keypad_holds_every_key_once() {
        for digit in Digit::ALL {
            let (r, c) = position(digit);
            assert_eq!(KEYPAD[r][c], digit);
        }
        assert_eq!(frequencies(Digit::D5), (770.0, 1336.0));
        assert_eq!(frequencies(Digit::Pound), (941.0, 1477.0));
    }

    #[test]
    fn levels_follow_the_dbm0_convention() {
        let t = tone(Digit::D1, 100, &ToneShape::level(-20.0));
        let expected = ToneShape::level(-20.0).power();
        assert!((power(&t) / expected - 1.0).abs() < 0.01);
        // A single 0 dBm0 sine peaks at 22,700.
        assert!((tone_power(0.0) - 22_700.0f64.powi(2) / 2.0).abs() < 1.0);
    }

    #[test]
    fn noise_has_the_requested_power_and_is_reproducible() {
        let mut a = silence(1000);
        add_noise(&mut a, tone_power(-10.0), 20.0, 7);
        let ratio_db = 10.0 * (tone_power(-10.0) / power(&a)).log10();
        assert!((ratio_db - 20.0).abs() < 0.2, "{ratio_db}");
        let mut b = silence(1000);
        add_noise(&mut b, tone_power(-10.0), 20.0, 7);
        assert_eq!(a, b);
    }
}
