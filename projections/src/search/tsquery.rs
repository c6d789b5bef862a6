//! PostgreSQL `tsquery` text, as `tsquery::text` prints it, read into a tree the in-memory
//! index evaluates ([`super::index`]).
//!
//! PostgreSQL stays the one that understands what shoppers type: `websearch_to_tsquery` in the
//! catalog's language stems the words, drops stop words and turns quotes, `-` and `or` into
//! operators. This module only reads its answer back: operands `'lexeme'` (a quote inside
//! doubled, a backslash doubled), each optionally followed by `:` with `*` (a prefix) and
//! weight letters; `!`; phrase operators `<->` and `<N>`; `&`; `|`; parentheses. Precedence,
//! highest first: `!`, phrase, `&`, `|`; phrase operators group to the left, as PostgreSQL
//! prints them.

/// A query tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A lexeme, or every lexeme it begins (`prefix`), at positions of the given weights.
    Term {
        /// The lexeme, as stemmed by PostgreSQL.
        lexeme: String,
        /// `'bott':*`: any lexeme starting with it.
        prefix: bool,
        /// Bit `w` set: weight `w` counts (0 = D, 1 = C, 2 = B, 3 = A); all four when none
        /// was given.
        weights: u8,
    },
    /// Both.
    And(Box<Node>, Box<Node>),
    /// Either.
    Or(Box<Node>, Box<Node>),
    /// Not.
    Not(Box<Node>),
    /// The right one exactly `distance` positions after the left one.
    Phrase(Box<Node>, Box<Node>, u16),
}

/// Every weight.
pub const ALL_WEIGHTS: u8 = 0b1111;

/// Text that is not a `tsquery` as PostgreSQL prints it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable tsquery at byte {0}")]
pub struct Unreadable(pub usize);

/// Reads `tsquery::text`. `Ok(None)`: the empty query (only stop words), which matches
/// nothing.
pub fn parse(text: &str) -> Result<Option<Node>, Unreadable> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.skip_spaces();
    if p.i == p.s.len() {
        return Ok(None);
    }
    let node = p.or()?;
    p.skip_spaces();
    if p.i != p.s.len() {
        return Err(Unreadable(p.i));
    }
    Ok(Some(node))
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_spaces(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    /// Consumes `token` (after spaces) if it is next.
    fn eat(&mut self, token: &str) -> bool {
        self.skip_spaces();
        if self.s[self.i..].starts_with(token.as_bytes()) {
            self.i += token.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Node, Unreadable> {
        let mut left = self.and()?;
        while self.eat("|") {
            left = Node::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, Unreadable> {
        let mut left = self.phrase()?;
        while self.eat("&") {
            left = Node::And(Box::new(left), Box::new(self.phrase()?));
        }
        Ok(left)
    }

    fn phrase(&mut self) -> Result<Node, Unreadable> {
        let mut left = self.unary()?;
        while let Some(distance) = self.distance()? {
            left = Node::Phrase(Box::new(left), Box::new(self.unary()?), distance);
        }
        Ok(left)
    }

    /// `<->` (1) or `<N>`, if next.
    fn distance(&mut self) -> Result<Option<u16>, Unreadable> {
        if self.eat("<->") {
            return Ok(Some(1));
        }
        if !self.eat("<") {
            return Ok(None);
        }
        let start = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        let distance = std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .and_then(|d| d.parse().ok())
            .ok_or(Unreadable(start))?;
        if !self.eat(">") {
            return Err(Unreadable(self.i));
        }
        Ok(Some(distance))
    }

    fn unary(&mut self) -> Result<Node, Unreadable> {
        if self.eat("!") {
            return Ok(Node::Not(Box::new(self.unary()?)));
        }
        if self.eat("(") {
            let inner = self.or()?;
            if !self.eat(")") {
                return Err(Unreadable(self.i));
            }
            return Ok(inner);
        }
        self.operand()
    }

    fn operand(&mut self) -> Result<Node, Unreadable> {
        if !self.eat("'") {
            return Err(Unreadable(self.i));
        }
        let mut lexeme = Vec::new();
        loop {
            match self.s.get(self.i) {
                None => return Err(Unreadable(self.i)),
                Some(b'\'') if self.s.get(self.i + 1) == Some(&b'\'') => {
                    lexeme.push(b'\'');
                    self.i += 2;
                }
                Some(b'\'') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') if self.i + 1 < self.s.len() => {
                    lexeme.push(self.s[self.i + 1]);
                    self.i += 2;
                }
                Some(&b) => {
                    lexeme.push(b);
                    self.i += 1;
                }
            }
        }
        let lexeme = String::from_utf8(lexeme).map_err(|_| Unreadable(self.i))?;
        let (mut prefix, mut weights) = (false, 0u8);
        // Flags follow the closing quote directly: `'bott':*`, `'a':AB`.
        if self.s.get(self.i) == Some(&b':') {
            self.i += 1;
            while let Some(&flag) = self.s.get(self.i) {
                match flag.to_ascii_uppercase() {
                    b'*' => prefix = true,
                    b'A' => weights |= 1 << 3,
                    b'B' => weights |= 1 << 2,
                    b'C' => weights |= 1 << 1,
                    b'D' => weights |= 1,
                    _ => break,
                }
                self.i += 1;
            }
        }
        Ok(Node::Term {
            lexeme,
            prefix,
            weights: if weights == 0 { ALL_WEIGHTS } else { weights },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(lexeme: &str) -> Node {
        Node::Term {
            lexeme: lexeme.into(),
            prefix: false,
            weights: ALL_WEIGHTS,
        }
    }

    fn b(n: Node) -> Box<Node> {
        Box::new(n)
    }

    #[test]
    fn reads_what_websearch_to_tsquery_prints() {
        // websearch_to_tsquery('english', '"water bottle" -glass or teapot')
        assert_eq!(
            parse("'water' <-> 'bottl' & !'glass' | 'teapot'").unwrap(),
            Some(Node::Or(
                b(Node::And(
                    b(Node::Phrase(b(term("water")), b(term("bottl")), 1)),
                    b(Node::Not(b(term("glass"))))
                )),
                b(term("teapot"))
            ))
        );
        // A stop word inside a phrase widens the distance; chains group to the left.
        assert_eq!(
            parse("'bottl' <2> 'water' <-> 'jug'").unwrap(),
            Some(Node::Phrase(
                b(Node::Phrase(b(term("bottl")), b(term("water")), 2)),
                b(term("jug")),
                1
            ))
        );
        assert_eq!(
            parse("( 'a' | 'b' ) & 'c'").unwrap(),
            Some(Node::And(
                b(Node::Or(b(term("a")), b(term("b")))),
                b(term("c"))
            ))
        );
    }

    #[test]
    fn reads_prefixes_weights_and_quoted_lexemes() {
        assert_eq!(
            parse("'steel' & 'bott':*").unwrap(),
            Some(Node::And(
                b(term("steel")),
                b(Node::Term {
                    lexeme: "bott".into(),
                    prefix: true,
                    weights: ALL_WEIGHTS
                })
            ))
        );
        assert_eq!(
            parse("'o''neil':*AB").unwrap(),
            Some(Node::Term {
                lexeme: "o'neil".into(),
                prefix: true,
                weights: 0b1100
            })
        );
        assert_eq!(parse("'c:\\\\path'").unwrap(), Some(term("c:\\path")));
    }

    #[test]
    fn the_empty_query_is_none_and_garbage_an_error() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("  ").unwrap(), None);
        assert!(parse("'a' &").is_err());
        assert!(parse("'a").is_err());
        assert!(parse("'a' <x> 'b'").is_err());
        assert!(parse("('a'").is_err());
        assert!(parse("'a' 'b'").is_err());
    }
}
