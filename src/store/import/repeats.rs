//! Codes that appear twice in one file, found exactly without holding every code.
//!
//! Reporting a repeat ("appears again (first on line N)") needs, for every row, whether its code
//! came earlier. At 20 million rows a set of every code does not fit the import's 256 MiB: as
//! `String`s in a `HashMap` well over 1 GiB, as `u64`s in a hash set ~300 MiB at a usable load
//! factor, a sorted `Vec<u64>` 160 MiB plus its doubling, a bitset over the 10¹⁰ codes 1.25 GiB.
//! Keeping the set in the database instead (a temporary table with the code as key) was the first
//! version: correct, but one more random index insert per row, and at 20 M rows it was a third
//! of the import's page writes.
//!
//! So the file is read twice. The first pass reads only the codes into a Bloom filter (10 bits a
//! row, ~1 % false positives): a code the filter already holds *may* repeat and becomes a
//! candidate; every real repeat is among the candidates, since its earlier occurrence was added
//! first. The second pass, the import itself, tracks exact first lines for the candidates alone:
//! a few hundred thousand at 20 M rows, a few MiB. Memory grows with the number of distinct
//! repeated codes (a broken file), not with the file.

use std::collections::HashMap;

use tokio::io::AsyncBufRead;

use super::ImportError;
use super::parse::RowReader;

/// Bits of filter per expected row: ~1 % false positives with 7 hashes.
const BITS_PER_ROW: u64 = 10;
const HASHES: u32 = 7;
/// The shortest plausible row (`0123456789,0912345678,,\n` is 24 bytes), to expect rows from bytes.
const MIN_ROW_BYTES: u64 = 24;
/// The filter never takes more than 64 MiB; a larger file only gets more false positives.
const MAX_FILTER_BITS: u64 = 1 << 29;
const MIN_FILTER_BITS: u64 = 1 << 16;

/// The candidates of one file, and the first line of each seen so far in the second pass.
#[derive(Debug, Default)]
pub(super) struct Repeats {
    first_line: HashMap<u64, Option<u64>>,
}

impl Repeats {
    /// The first pass over a file of `total_bytes`.
    pub async fn scan(
        reader: impl AsyncBufRead + Unpin,
        total_bytes: u64,
    ) -> Result<Repeats, ImportError> {
        let mut rows = RowReader::new(reader).await?;
        let mut filter = Bloom::for_rows(total_bytes / MIN_ROW_BYTES);
        let mut repeats = Repeats::default();
        while let Some(code) = rows.next_code().await? {
            if let Some(code) = code
                && filter.insert(code)
            {
                repeats.first_line.insert(code, None);
            }
        }
        Ok(repeats)
    }

    /// For a good row of the second pass: the line where its code first appeared, if earlier.
    pub fn earlier_line(&mut self, code: u64, line: u64) -> Option<u64> {
        let first = self.first_line.get_mut(&code)?;
        match first {
            Some(first) => Some(*first),
            None => {
                *first = Some(line);
                None
            }
        }
    }

    #[cfg(test)]
    fn candidates(&self) -> usize {
        self.first_line.len()
    }
}

/// A Bloom filter over codes (as numbers).
struct Bloom {
    words: Vec<u64>,
    bits: u64,
}

impl Bloom {
    fn for_rows(rows: u64) -> Bloom {
        let bits = rows
            .saturating_mul(BITS_PER_ROW)
            .clamp(MIN_FILTER_BITS, MAX_FILTER_BITS);
        Bloom {
            words: vec![0; bits.div_ceil(64) as usize],
            bits,
        }
    }

    /// Adds `code`; true when every bit was already set (it may have been added before).
    fn insert(&mut self, code: u64) -> bool {
        // Double hashing (Kirsch–Mitzenmacher): the k positions from two halves of one mix.
        let hash = mix(code);
        let (h1, h2) = (hash & 0xffff_ffff, (hash >> 32) | 1);
        let mut present = true;
        for i in 0..u64::from(HASHES) {
            let bit = (h1.wrapping_add(i.wrapping_mul(h2))) % self.bits;
            let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
            if let Some(word) = self.words.get_mut(word) {
                present &= *word & mask != 0;
                *word |= mask;
            }
        }
        present
    }
}

/// SplitMix64's finaliser: codes close together land far apart.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_repeat_is_found_with_its_first_line_and_few_false_candidates() {
        let mut csv = String::from("code,phone,personal_id,registered\n");
        for i in 0..50_000u64 {
            csv.push_str(&format!("{:010},0912345678,,1\n", i * 7919));
        }
        csv.push_str(&format!("{:010},0912345678,,1\n", 10 * 7919)); // line 50002
        csv.push_str("bad,0912345678,,1\n");
        let mut repeats = Repeats::scan(csv.as_bytes(), csv.len() as u64)
            .await
            .unwrap();
        assert!(
            repeats.candidates() < 2_000,
            "{} candidates",
            repeats.candidates()
        );
        for i in 0..50_000u64 {
            assert_eq!(repeats.earlier_line(i * 7919, i + 2), None, "row {i}");
        }
        assert_eq!(repeats.earlier_line(10 * 7919, 50_002), Some(12));
    }
}
