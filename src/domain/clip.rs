use std::fmt;

/// A recorded announcement. Each is one WAV file, `prompts/<lang>/<name>.wav`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Prompt {
    Welcome,
    RateNotice,
    Menu,
    InvalidOption,
    EnterCode,
    InvalidCode,
    NoInput,
    Mismatch,
    NewPassword,
    RepeatPassword,
    Goodbye,
    Anonymous,
    TooManyAttempts,
    SystemBusy,
    /// "Press 0 to talk to an agent": added to the menu and offers only when
    /// `ivr.operator_uri` is set.
    OperatorOffer,
    /// "Agents are busy, please call again later": a transfer that did not go through.
    AgentsBusy,
}

impl Prompt {
    pub const ALL: [Prompt; 16] = [
        Prompt::Welcome,
        Prompt::RateNotice,
        Prompt::Menu,
        Prompt::InvalidOption,
        Prompt::EnterCode,
        Prompt::InvalidCode,
        Prompt::NoInput,
        Prompt::Mismatch,
        Prompt::NewPassword,
        Prompt::RepeatPassword,
        Prompt::Goodbye,
        Prompt::Anonymous,
        Prompt::TooManyAttempts,
        Prompt::SystemBusy,
        Prompt::OperatorOffer,
        Prompt::AgentsBusy,
    ];

    /// The file stem: `welcome` is `welcome.wav`.
    pub fn name(self) -> &'static str {
        match self {
            Prompt::Welcome => "welcome",
            Prompt::RateNotice => "rate_notice",
            Prompt::Menu => "menu",
            Prompt::InvalidOption => "invalid_option",
            Prompt::EnterCode => "enter_code",
            Prompt::InvalidCode => "invalid_code",
            Prompt::NoInput => "no_input",
            Prompt::Mismatch => "mismatch",
            Prompt::NewPassword => "new_password",
            Prompt::RepeatPassword => "repeat_password",
            Prompt::Goodbye => "goodbye",
            Prompt::Anonymous => "anonymous",
            Prompt::TooManyAttempts => "too_many_attempts",
            Prompt::SystemBusy => "system_busy",
            Prompt::OperatorOffer => "operator_offer",
            Prompt::AgentsBusy => "agents_busy",
        }
    }
}

/// One unit of audio the player can queue: an announcement, or one spoken decimal digit
/// (`digits/<n>.wav`), which is how a password is read out.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Clip {
    Prompt(Prompt),
    /// 0–9. Deliberately not shown by `Debug`: a queue of these is a password.
    Digit(u8),
}

impl Clip {
    /// Every clip a prompt directory must hold.
    pub fn all() -> impl Iterator<Item = Clip> {
        Prompt::ALL
            .into_iter()
            .map(Clip::Prompt)
            .chain((0..10).map(Clip::Digit))
    }

    /// The path relative to the prompt directory, e.g. `menu.wav` or `digits/7.wav`.
    pub fn relative_path(self) -> String {
        match self {
            Clip::Prompt(p) => format!("{}.wav", p.name()),
            Clip::Digit(d) => format!("digits/{d}.wav"),
        }
    }
}

impl fmt::Debug for Clip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clip::Prompt(p) => write!(f, "{p:?}"),
            Clip::Digit(_) => f.write_str("Digit(*)"),
        }
    }
}

/// Names one `play` request, so that "playback finished" can be matched to the request it
/// answers and a late notice from a playback that was since replaced is recognised as stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlaybackId(pub u32);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn there_are_26_distinct_clip_files() {
        let paths: std::collections::BTreeSet<_> = Clip::all().map(Clip::relative_path).collect();
        assert_eq!(paths.len(), 26);
        assert!(paths.contains("digits/0.wav") && paths.contains("too_many_attempts.wav"));
    }

    #[test]
    fn debug_does_not_reveal_digit_clips() {
        assert_eq!(
            format!("{:?}", [Clip::Digit(2), Clip::Digit(7)]),
            "[Digit(*), Digit(*)]"
        );
    }
}
