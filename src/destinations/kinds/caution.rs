//! A caution: settings that work but put something at risk, as a kind and its words. The kind
//! says what the risk is (the dashboard tags and ranks it by the kind, never by the words); the
//! line, for people, is the kind's words and then what was found.

use std::fmt;

/// What a caution is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CautionKind {
    /// A password crosses the network unencrypted.
    Cleartext,
}

impl CautionKind {
    /// The words its line starts with (`cleartext: …`).
    pub fn words(self) -> &'static str {
        match self {
            Self::Cleartext => "cleartext",
        }
    }
}

/// Settings that work but put something at risk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caution {
    pub kind: CautionKind,
    /// What was found and what to change, without the kind's words.
    pub text: String,
}

impl Caution {
    /// A caution of `kind` saying `text`.
    pub fn new(kind: CautionKind, text: impl Into<String>) -> Self {
        Self {
            kind,
            text: text.into(),
        }
    }
}

/// The whole line, the kind's words first: `cleartext: the WebDAV destination nas sends …`.
impl fmt::Display for Caution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.words(), self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_the_kinds_words_then_the_text() {
        let c = Caution::new(
            CautionKind::Cleartext,
            "nas sends its password in the clear",
        );
        assert_eq!(
            c.to_string(),
            "cleartext: nas sends its password in the clear"
        );
    }
}
