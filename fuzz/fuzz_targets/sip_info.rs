//! SIP INFO bodies → DTMF key. The input is `content type \n body`. Checks: nothing panics, a
//! refusal is always 400 or 415 (415 exactly when the type is not a DTMF type), and a body that
//! yields a key yields it again with the type in other case and with parameters.
#![no_main]

use hotline::media::dtmf::{InfoError, parse_info};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (content_type, body) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let content_type = String::from_utf8_lossy(content_type);
    match parse_info(&content_type, body) {
        Ok(digit) => {
            let shouted = format!("{}; charset=utf-8", content_type.to_ascii_uppercase());
            assert_eq!(parse_info(&shouted, body), Ok(digit));
        }
        Err(e @ InfoError::UnsupportedType(_)) => assert_eq!(e.status(), 415),
        Err(e) => assert_eq!(e.status(), 400),
    }
});
