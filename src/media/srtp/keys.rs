//! SDES master keys and the crypto-suites we accept (RFC 4568 §6.2).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroize;

/// Bytes of an AES-128 master key followed by its 112-bit master salt (RFC 4568 §6.2.1).
pub const MASTER_KEY_LEN: usize = 16 + 14;

/// The SDES crypto-suites we do: AES-128 in counter mode with an 80- or 32-bit HMAC-SHA1 tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrtpSuite {
    AesCm128HmacSha1_80,
    AesCm128HmacSha1_32,
}

impl SrtpSuite {
    /// The suite's name in an `a=crypto` line.
    pub fn sdes_name(self) -> &'static str {
        match self {
            SrtpSuite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            SrtpSuite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// `None` for suites we do not do (AES-256, GCM, F8, NULL…). Names are case-sensitive.
    pub fn from_sdes_name(name: &str) -> Option<SrtpSuite> {
        [
            SrtpSuite::AesCm128HmacSha1_80,
            SrtpSuite::AesCm128HmacSha1_32,
        ]
        .into_iter()
        .find(|s| s.sdes_name() == name)
    }
}

/// A master key and salt. Zeroed when dropped; `Debug` never shows it, so a key cannot reach a
/// log by way of a struct that contains it.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; MASTER_KEY_LEN]);

impl MasterKey {
    /// A fresh key from the OS CSPRNG. Fails only when the OS cannot give randomness, which a
    /// call must not paper over with a weaker key.
    pub fn generate() -> Result<MasterKey, getrandom::Error> {
        let mut key = [0u8; MASTER_KEY_LEN];
        getrandom::fill(&mut key)?;
        Ok(MasterKey(key))
    }

    /// The `<key||salt>` of an `inline:` key parameter: base64 of exactly 30 bytes.
    pub fn from_base64(text: &str) -> Option<MasterKey> {
        let mut decoded = STANDARD.decode(text).ok()?;
        let key = <[u8; MASTER_KEY_LEN]>::try_from(decoded.as_slice())
            .ok()
            .map(MasterKey);
        decoded.zeroize();
        key
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    pub fn bytes(&self) -> &[u8; MASTER_KEY_LEN] {
        &self.0
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(*)")
    }
}

/// What one call's SRTP needs: the suite both sides use, the key we send with (from our
/// answer) and the key the caller sends with (from its offer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrtpKeys {
    pub suite: SrtpSuite,
    pub ours: MasterKey,
    pub theirs: MasterKey,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_names_round_trip_and_others_are_unknown() {
        for suite in [
            SrtpSuite::AesCm128HmacSha1_80,
            SrtpSuite::AesCm128HmacSha1_32,
        ] {
            assert_eq!(SrtpSuite::from_sdes_name(suite.sdes_name()), Some(suite));
        }
        for other in [
            "AES_256_CM_HMAC_SHA1_80",
            "AEAD_AES_128_GCM",
            "F8_128_HMAC_SHA1_80",
            "aes_cm_128_hmac_sha1_80",
        ] {
            assert_eq!(SrtpSuite::from_sdes_name(other), None, "{other}");
        }
    }

    #[test]
    fn keys_are_30_random_bytes_in_base64_and_never_debug_printed() {
        let a = MasterKey::generate().unwrap();
        let b = MasterKey::generate().unwrap();
        assert_ne!(a, b);
        let text = a.to_base64();
        assert_eq!(text.len(), 40);
        assert_eq!(MasterKey::from_base64(&text), Some(a.clone()));
        assert_eq!(format!("{a:?}"), "MasterKey(*)");
        assert!(
            !format!(
                "{:?}",
                SrtpKeys {
                    suite: SrtpSuite::AesCm128HmacSha1_80,
                    ours: a,
                    theirs: b
                }
            )
            .contains(&text)
        );
    }

    #[test]
    fn keys_of_the_wrong_length_or_not_base64_are_refused() {
        assert_eq!(MasterKey::from_base64(&STANDARD.encode([1u8; 29])), None);
        assert_eq!(MasterKey::from_base64(&STANDARD.encode([1u8; 46])), None);
        assert_eq!(MasterKey::from_base64("not base64!"), None);
        assert_eq!(MasterKey::from_base64(""), None);
    }
}
