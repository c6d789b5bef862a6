//! Text value objects: one rule for human text, one for identifiers, applied everywhere.
//!
//! **Human text** (names, descriptions, categories, carriers, reasons) is trimmed, then must hold
//! between `min` and `max` characters, at least one of them visible (a letter, digit,
//! punctuation or symbol that is not a blank filler), and none of: control characters (C0, DEL,
//! C1; multi-line fields allow line feed, carriage return and tab), bidirectional embedding,
//! override and isolate controls (used to make text read differently than it is stored),
//! line and paragraph separators in single-line fields, and Unicode noncharacters. Zero-width
//! joiners and direction marks stay allowed inside text (emoji sequences and right-to-left
//! scripts need them) but never count as visible.
//!
//! **Identifiers** (payment references, tracking numbers) are 1 to `max` printable ASCII
//! characters without spaces, at least one of them a letter or digit.
//!
//! Recorded events keep plain strings: they are facts and stay readable whatever these rules
//! become. Commands take these types, so nothing unvalidated is ever decided on or stored.

use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_properties::{GeneralCategoryGroup, UnicodeGeneralCategory};

use crate::values::ValueError;

/// What is wrong with a piece of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    /// Nothing visible is left after trimming.
    Empty,
    /// Longer than allowed.
    TooLong {
        /// Largest number of characters allowed.
        max: usize,
    },
    /// Shorter than required.
    TooShort {
        /// Smallest number of characters required.
        min: usize,
    },
    /// Holds a character that text of this kind may not hold (control, bidi override, ...).
    ForbiddenCharacter {
        /// The offending character's code point.
        code_point: u32,
    },
}

impl fmt::Display for TextProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextProblem::Empty => f.write_str("must contain visible characters"),
            TextProblem::TooLong { max } => write!(f, "must have at most {max} characters"),
            TextProblem::TooShort { min } => write!(f, "must have at least {min} characters"),
            TextProblem::ForbiddenCharacter { code_point } => {
                write!(f, "must not contain the character U+{code_point:04X}")
            }
        }
    }
}

/// How a human-text field is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRule {
    /// Field name reported in errors.
    pub field: &'static str,
    /// Fewest characters after trimming (0 allows empty text).
    pub min: usize,
    /// Most characters after trimming.
    pub max: usize,
    /// Whether line breaks and tabs are allowed.
    pub multiline: bool,
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn is_noncharacter(c: char) -> bool {
    let u = c as u32;
    (0xFDD0..=0xFDEF).contains(&u) || (u & 0xFFFE) == 0xFFFE
}

/// Letters, digits, punctuation and symbols that render as something, excluding the blank
/// fillers that are letters or symbols on paper only.
fn is_visible(c: char) -> bool {
    if matches!(
        c,
        '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' | '\u{2800}' | '\u{17B4}' | '\u{17B5}'
    ) {
        return false;
    }
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter
            | GeneralCategoryGroup::Number
            | GeneralCategoryGroup::Punctuation
            | GeneralCategoryGroup::Symbol
    )
}

impl TextRule {
    /// Checks `raw` and returns it trimmed.
    pub fn check(&self, raw: &str) -> Result<String, ValueError> {
        let fail = |problem| ValueError::InvalidText {
            field: self.field,
            problem,
        };
        let text = raw.trim();
        for c in text.chars() {
            let allowed_break = self.multiline && matches!(c, '\n' | '\r' | '\t');
            let forbidden = (c.is_control() && !allowed_break)
                || is_bidi_control(c)
                || is_noncharacter(c)
                || (!self.multiline && matches!(c, '\u{2028}' | '\u{2029}'));
            if forbidden {
                return Err(fail(TextProblem::ForbiddenCharacter {
                    code_point: c as u32,
                }));
            }
        }
        let len = text.chars().count();
        if len > self.max {
            return Err(fail(TextProblem::TooLong { max: self.max }));
        }
        if self.min > 0 && !text.chars().any(is_visible) {
            return Err(fail(TextProblem::Empty));
        }
        if len < self.min {
            return Err(fail(TextProblem::TooShort { min: self.min }));
        }
        Ok(text.to_owned())
    }
}

/// How an identifier field is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentifierRule {
    /// Field name reported in errors.
    pub field: &'static str,
    /// Most characters.
    pub max: usize,
}

impl IdentifierRule {
    /// Checks `raw` (not trimmed: an identifier is taken exactly as given).
    pub fn check(&self, raw: &str) -> Result<String, ValueError> {
        let fail = |problem| ValueError::InvalidText {
            field: self.field,
            problem,
        };
        if let Some(c) = raw.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(fail(TextProblem::ForbiddenCharacter {
                code_point: c as u32,
            }));
        }
        if raw.len() > self.max {
            return Err(fail(TextProblem::TooLong { max: self.max }));
        }
        if !raw.bytes().any(|b| b.is_ascii_alphanumeric()) {
            return Err(fail(TextProblem::Empty));
        }
        Ok(raw.to_owned())
    }
}

/// A rule a text value object follows.
pub trait Rule {
    /// Checks `raw` and returns the value to keep.
    fn check(&self, raw: &str) -> Result<String, ValueError>;
}

impl Rule for TextRule {
    fn check(&self, raw: &str) -> Result<String, ValueError> {
        TextRule::check(self, raw)
    }
}

impl Rule for IdentifierRule {
    fn check(&self, raw: &str) -> Result<String, ValueError> {
        IdentifierRule::check(self, raw)
    }
}

macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, $rule_type:ty, $rule:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The rule this value follows.
            pub const RULE: $rule_type = $rule;

            /// Validates raw input.
            pub fn parse(raw: &str) -> Result<Self, ValueError> {
                Rule::check(&Self::RULE, raw).map($name)
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// A value taken from a recorded event: facts are not re-validated.
            pub fn from_recorded(text: String) -> Self {
                $name(text)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValueError;
            fn try_from(value: String) -> Result<Self, ValueError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

const fn line(field: &'static str, max: usize) -> TextRule {
    TextRule {
        field,
        min: 1,
        max,
        multiline: false,
    }
}

text_value!(
    /// A product's display name: one line, 1-200 characters.
    ProductName,
    TextRule,
    line("name", 200)
);
text_value!(
    /// A product's description: free text over several lines, up to 5000 characters.
    Description,
    TextRule,
    TextRule {
        field: "description",
        min: 0,
        max: 5000,
        multiline: true
    }
);
text_value!(
    /// What a shopper searches the catalog for: one line, 1-200 characters.
    SearchText,
    TextRule,
    line("q", 200)
);
text_value!(
    /// A product category's name: one line, 1-100 characters.
    CategoryName,
    TextRule,
    line("category", 100)
);
text_value!(
    /// A seller's store name: one line, 1-100 characters.
    StoreName,
    TextRule,
    line("store_name", 100)
);
text_value!(
    /// The name an account shows to others: one line, 1-100 characters.
    DisplayName,
    TextRule,
    line("display_name", 100)
);
text_value!(
    /// A carrier's name: one line, 1-100 characters.
    Carrier,
    TextRule,
    line("carrier", 100)
);
text_value!(
    /// Why something was done, in words: one line, 1-500 characters.
    Reason,
    TextRule,
    line("reason", 500)
);
text_value!(
    /// The attribute of a specification line ("Material"): one line, 1-100 characters.
    SpecificationName,
    TextRule,
    line("specifications.name", 100)
);
text_value!(
    /// The value of a specification line ("Stoneware"): one line, 1-500 characters.
    SpecificationValue,
    TextRule,
    line("specifications.value", 500)
);
text_value!(
    /// What an image shows, for people who cannot see it: one line, 1-300 characters.
    AltText,
    TextRule,
    line("images.alt", 300)
);
text_value!(
    /// What a reviewer says about a product: free text over several lines, 1-5000 characters.
    ReviewText,
    TextRule,
    TextRule {
        field: "text",
        min: 1,
        max: 5000,
        multiline: true
    }
);
text_value!(
    /// A payment provider's reference for a payment.
    PaymentReference,
    IdentifierRule,
    IdentifierRule {
        field: "payment_reference",
        max: 200
    }
);
text_value!(
    /// A carrier's tracking number.
    TrackingNumber,
    IdentifierRule,
    IdentifierRule {
        field: "tracking_number",
        max: 100
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(result: Result<impl fmt::Debug, ValueError>) -> TextProblem {
        match result {
            Err(ValueError::InvalidText { problem, .. }) => problem,
            other => panic!("expected invalid text, got {other:?}"),
        }
    }

    #[test]
    fn human_text_is_trimmed_and_kept() {
        assert_eq!(
            ProductName::parse("  Blue mug ").unwrap().as_str(),
            "Blue mug"
        );
        assert_eq!(
            ProductName::parse("Café ☕ 日本").unwrap().as_str(),
            "Café ☕ 日本"
        );
        // An emoji sequence joined with ZWJ and a right-to-left name with a mark are text.
        assert!(ProductName::parse("👩\u{200D}💻 kit").is_ok());
        assert!(ProductName::parse("\u{05E9}\u{05DC}\u{05D5}\u{05DD}\u{200F}").is_ok());
    }

    #[test]
    fn control_characters_are_refused_everywhere() {
        for bad in [
            "a\u{0}b",
            "bell\u{7}",
            "esc\u{1b}[31m",
            "del\u{7f}",
            "c1\u{85}x",
        ] {
            for result in [
                ProductName::parse(bad).map(|_| ()),
                CategoryName::parse(bad).map(|_| ()),
                Carrier::parse(bad).map(|_| ()),
                Reason::parse(bad).map(|_| ()),
                DisplayName::parse(bad).map(|_| ()),
                Description::parse(bad).map(|_| ()),
            ] {
                assert!(
                    matches!(problem(result), TextProblem::ForbiddenCharacter { .. }),
                    "{bad:?}"
                );
            }
        }
        assert_eq!(
            problem(ProductName::parse("a\u{0}b")),
            TextProblem::ForbiddenCharacter { code_point: 0 }
        );
    }

    #[test]
    fn line_breaks_only_in_multiline_fields() {
        assert!(Description::parse("line one\nline two\ttabbed").is_ok());
        assert!(ProductName::parse("line one\nline two").is_err());
        assert!(ProductName::parse("a\u{2028}b").is_err());
    }

    #[test]
    fn invisible_only_text_is_empty() {
        for blank in [
            "",
            "   ",
            "\u{200B}\u{200B}",
            "\u{200D}",
            "\u{3164}",
            "\u{2800}",
            "\u{FEFF}",
        ] {
            assert_eq!(
                problem(ProductName::parse(blank)),
                TextProblem::Empty,
                "{blank:?}"
            );
        }
        assert_eq!(Description::parse("").unwrap().as_str(), "");
    }

    #[test]
    fn bidi_overrides_and_noncharacters_are_refused() {
        assert!(ProductName::parse("abc\u{202E}fed").is_err());
        assert!(ProductName::parse("x\u{2066}y").is_err());
        assert!(ProductName::parse("x\u{FFFF}").is_err());
        assert!(ProductName::parse("x\u{FDD0}").is_err());
    }

    #[test]
    fn lengths_count_characters() {
        assert!(ProductName::parse(&"é".repeat(200)).is_ok());
        assert_eq!(
            problem(ProductName::parse(&"é".repeat(201))),
            TextProblem::TooLong { max: 200 }
        );
    }

    #[test]
    fn identifiers_are_printable_ascii_with_an_alphanumeric() {
        assert!(PaymentReference::parse("pay_29QQoUBi66xm2f").is_ok());
        assert!(TrackingNumber::parse("JD0001/2").is_ok());
        for bad in ["", "---", "a b", "a\u{0}", "réf", "x\u{7}"] {
            assert!(PaymentReference::parse(bad).is_err(), "{bad:?}");
        }
        assert!(TrackingNumber::parse(&"1".repeat(101)).is_err());
    }

    #[test]
    fn errors_name_the_field() {
        let e = Carrier::parse("\u{0}").unwrap_err();
        assert_eq!(e.field(), Some("carrier"));
        assert_eq!(e.code(), "invalid_text");
    }
}
