//! How a call flow is set up: where it starts, what it announces, how long it waits, how often
//! it lets a caller retry. Filled from the `[ivr]` and `[billing]` config sections.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Where a call enters the flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Entry {
    /// Greet the caller and ask them to press 8 (the hotline's own menu).
    Menu,
    /// The PBX in front of us already chose branch 8: greet, then ask for the code at once.
    Code,
}

/// The config value was neither `menu` nor `code`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an entry point (expected \"menu\" or \"code\")")]
pub struct EntryError(String);

impl Entry {
    pub fn as_str(self) -> &'static str {
        match self {
            Entry::Menu => "menu",
            Entry::Code => "code",
        }
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Entry {
    type Err = EntryError;
    fn from_str(s: &str) -> Result<Entry, EntryError> {
        match s.trim() {
            "menu" => Ok(Entry::Menu),
            "code" => Ok(Entry::Code),
            other => Err(EntryError(other.to_owned())),
        }
    }
}

/// The knobs of one call flow. Every call gets its own copy, so a config reload never changes a
/// call that is already running.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowConfig {
    pub entry: Entry,
    /// Play the per-minute rate after the welcome: callers pay for this line, so they are told.
    pub announce_rate: bool,
    /// How long to wait for the first key once a prompt that asks for input has finished.
    pub first_digit_timeout: Duration,
    /// How long to wait for the next key of a code; a complete code without `#` is taken then.
    pub inter_digit_timeout: Duration,
    /// Failed menu choices (wrong key or silence) before the flow says goodbye.
    pub menu_tries: u32,
    /// Failed code entries (wrong length or silence) before the flow says goodbye.
    pub code_tries: u32,
    /// Offer "press 0 for an agent" (`ivr.operator_uri` is set): the driver knows where to
    /// transfer to; the flow only needs to know that it may.
    pub offer_operator: bool,
    /// How long a transfer may go without a final NOTIFY before the caller is told that the
    /// agents are busy. A 202 to the REFER says only that the PBX will try.
    pub transfer_timeout: Duration,
}

impl Default for FlowConfig {
    fn default() -> FlowConfig {
        FlowConfig {
            entry: Entry::Menu,
            announce_rate: true,
            first_digit_timeout: Duration::from_secs(10),
            inter_digit_timeout: Duration::from_secs(5),
            menu_tries: 3,
            code_tries: 3,
            offer_operator: false,
            transfer_timeout: Duration::from_secs(10),
        }
    }
}

/// A setting that would make the flow useless (it is never unsafe: the flow copes with any value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowConfigError {
    #[error("{0} must be at least 1")]
    NoTries(&'static str),
    #[error("{0} must be longer than zero")]
    ZeroTimeout(&'static str),
}

impl FlowConfig {
    /// Checks the values at start-up; the error names the offending key (relative to `[ivr]`).
    pub fn validate(&self) -> Result<(), FlowConfigError> {
        if self.menu_tries == 0 {
            return Err(FlowConfigError::NoTries("menu_tries"));
        }
        if self.code_tries == 0 {
            return Err(FlowConfigError::NoTries("code_tries"));
        }
        if self.first_digit_timeout.is_zero() {
            return Err(FlowConfigError::ZeroTimeout("first_digit_timeout"));
        }
        if self.inter_digit_timeout.is_zero() {
            return Err(FlowConfigError::ZeroTimeout("inter_digit_timeout"));
        }
        if self.transfer_timeout.is_zero() {
            return Err(FlowConfigError::ZeroTimeout("transfer_timeout"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_round_trip() {
        for entry in [Entry::Menu, Entry::Code] {
            assert_eq!(entry.to_string().parse::<Entry>(), Ok(entry));
        }
        assert_eq!(
            "branch8".parse::<Entry>().map_err(|e| e.to_string()),
            Err("\"branch8\" is not an entry point (expected \"menu\" or \"code\")".to_owned())
        );
    }

    #[test]
    fn defaults_are_the_issue_s_numbers() {
        let c = FlowConfig::default();
        assert_eq!(c.entry, Entry::Menu);
        assert!(c.announce_rate);
        assert_eq!(c.first_digit_timeout, Duration::from_secs(10));
        assert_eq!(c.inter_digit_timeout, Duration::from_secs(5));
        assert_eq!((c.menu_tries, c.code_tries), (3, 3));
        assert!(
            !c.offer_operator,
            "no transfer unless ivr.operator_uri is set"
        );
        assert_eq!(c.transfer_timeout, Duration::from_secs(10));
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn validate_names_the_bad_key() {
        let zero_tries = FlowConfig {
            code_tries: 0,
            ..FlowConfig::default()
        };
        assert_eq!(
            zero_tries.validate(),
            Err(FlowConfigError::NoTries("code_tries"))
        );
        let zero_wait = FlowConfig {
            inter_digit_timeout: Duration::ZERO,
            ..FlowConfig::default()
        };
        assert_eq!(
            zero_wait.validate().map_err(|e| e.to_string()),
            Err("inter_digit_timeout must be longer than zero".to_owned())
        );
    }
}
