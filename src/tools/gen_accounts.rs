//! `hotline tools gen-accounts`: a deterministic account file of any size for the import
//! benchmark and for lookups at national scale.
//!
//! Row `i` is always the same account, so a benchmark can name existing accounts (rows below
//! `--rows`) and missing ones (rows at or beyond it) without reading the file back. Codes and
//! personal IDs are affine permutations of `i` (a multiplier coprime to 10ⁿ), so they are unique,
//! valid, and scattered over the whole code space in file order as a real export would be, rather
//! than sorted (sorted keys would flatter every B-tree insert).

use std::io::{self, Write};

use crate::store::IMPORT_CSV_HEADER;

const CODE_SPACE: u64 = 10_000_000_000;
/// Odd and not a multiple of 5: coprime to 10¹⁰, so `i ↦ i·A + B mod 10¹⁰` is a bijection.
const CODE_MULTIPLIER: u64 = 3_141_592_653;
const CODE_OFFSET: u64 = 2_718_281_828;
const PERSONAL_ID_SPACE: u64 = 1_000_000_000_000;
const PERSONAL_ID_MULTIPLIER: u64 = 161_803_398_877;
const PERSONAL_ID_OFFSET: u64 = 141_421_356_237;
/// Current Vietnamese mobile prefixes (national form); the subscriber part follows.
const MOBILE_PREFIXES: [&str; 12] = [
    "090", "091", "093", "094", "096", "097", "098", "032", "033", "070", "079", "085",
];

/// The insurance code of row `i` (unique for every `i` below 10¹⁰).
pub fn code_of(i: u64) -> String {
    let n = (u128::from(i) * u128::from(CODE_MULTIPLIER) + u128::from(CODE_OFFSET))
        % u128::from(CODE_SPACE);
    format!("{n:010}")
}

/// The personal ID of row `i`, or none: one account in five predates personal IDs.
pub fn personal_id_of(i: u64) -> Option<String> {
    (i % 5 != 4).then(|| {
        let n = (u128::from(i) * u128::from(PERSONAL_ID_MULTIPLIER)
            + u128::from(PERSONAL_ID_OFFSET))
            % u128::from(PERSONAL_ID_SPACE);
        format!("{n:012}")
    })
}

fn phone_of(i: u64) -> String {
    let prefix = MOBILE_PREFIXES[(i % MOBILE_PREFIXES.len() as u64) as usize];
    format!("{prefix}{:07}", (i.wrapping_mul(7_654_321)) % 10_000_000)
}

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct GenOptions {
    pub rows: u64,
    /// After every `bad_every`-th good row, one bad line (of rotating kinds, one of them a
    /// repeated code); 0 for none.
    pub bad_every: u64,
}

/// Writes the header and the rows; returns the number of bad lines written.
pub fn write_accounts(out: &mut impl Write, options: GenOptions) -> io::Result<u64> {
    writeln!(out, "{IMPORT_CSV_HEADER}")?;
    let mut bad = 0;
    for i in 0..options.rows {
        let registered = if i % 10 == 9 { "false" } else { "true" };
        writeln!(
            out,
            "{},{},{},{registered}",
            code_of(i),
            phone_of(i),
            personal_id_of(i).unwrap_or_default()
        )?;
        if options.bad_every > 0 && i % options.bad_every == options.bad_every - 1 {
            match bad % 4 {
                0 => writeln!(out, "{},{},,true", &code_of(i)[1..], phone_of(i))?,
                1 => writeln!(out, "{},12345,,true", code_of(i + options.rows))?,
                2 => writeln!(out, "{},{},,maybe", code_of(i + options.rows), phone_of(i))?,
                _ => writeln!(out, "{},{},,true", code_of(i), phone_of(i + 1))?,
            }
            bad += 1;
        }
    }
    out.flush()?;
    Ok(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{InsuranceCode, PersonalId, PhoneNumber};

    #[test]
    fn rows_are_valid_unique_and_always_the_same() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000 {
            assert!(InsuranceCode::parse(&code_of(i)).is_ok());
            assert!(PhoneNumber::parse(&phone_of(i)).is_ok());
            if let Some(id) = personal_id_of(i) {
                assert!(PersonalId::parse(&id).is_ok());
            }
            assert!(seen.insert(code_of(i)), "code of row {i} repeats");
        }
        assert_eq!(code_of(1234), code_of(1234));
    }

    #[test]
    fn bad_lines_follow_every_nth_row() {
        let mut out = Vec::new();
        let bad = write_accounts(
            &mut out,
            GenOptions {
                rows: 100,
                bad_every: 10,
            },
        )
        .unwrap();
        assert_eq!(bad, 10);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1 + 100 + 10);
        assert!(text.starts_with(IMPORT_CSV_HEADER));
    }
}
