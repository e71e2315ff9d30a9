use std::fmt;
use std::str::FromStr;

/// How a call ended, as written in the CDR's `outcome` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A new password was stored and read to the caller.
    Reset,
    /// Code unknown, caller number not the account's, or account not registered: one answer for all,
    /// so a caller cannot probe which codes exist.
    Mismatch,
    /// The caller keyed a code of the wrong length on every try.
    InvalidCode,
    /// The caller keyed nothing before the timeouts ran out.
    NoInput,
    /// The caller pressed keys other than 8 at the menu on every try.
    InvalidOption,
    /// The caller withheld their number.
    Anonymous,
    /// A lockout applied before any lookup.
    TooManyAttempts,
    /// The caller hung up before an outcome.
    Abandoned,
    /// The service failed (database down, media error).
    Error,
    /// The caller asked for an agent (key 0, `ivr.operator_uri`) and the PBX reported the
    /// transfer done (a `NOTIFY` with a 2xx sipfrag); our leg was then hung up.
    Transferred,
    /// The caller asked for an agent but the transfer was refused, failed or went unanswered for
    /// 10 s: they heard "agents are busy" and goodbye.
    TransferFailed,
    /// The service stopped under the call: hung up at the end of a drain (or on a second stop
    /// signal), or closed at start-up after a crash left the CDR open.
    Interrupted,
}

impl Outcome {
    pub const ALL: [Outcome; 12] = [
        Outcome::Reset,
        Outcome::Mismatch,
        Outcome::InvalidCode,
        Outcome::NoInput,
        Outcome::InvalidOption,
        Outcome::Anonymous,
        Outcome::TooManyAttempts,
        Outcome::Abandoned,
        Outcome::Error,
        Outcome::Transferred,
        Outcome::TransferFailed,
        Outcome::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Reset => "reset",
            Outcome::Mismatch => "mismatch",
            Outcome::InvalidCode => "invalid_code",
            Outcome::NoInput => "no_input",
            Outcome::InvalidOption => "invalid_option",
            Outcome::Anonymous => "anonymous",
            Outcome::TooManyAttempts => "too_many_attempts",
            Outcome::Abandoned => "abandoned",
            Outcome::Error => "error",
            Outcome::Transferred => "transferred",
            Outcome::TransferFailed => "transfer_failed",
            Outcome::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Outcome, String> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown outcome {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for outcome in Outcome::ALL {
            assert_eq!(outcome.as_str().parse::<Outcome>(), Ok(outcome));
        }
        assert!("done".parse::<Outcome>().is_err());
    }
}
