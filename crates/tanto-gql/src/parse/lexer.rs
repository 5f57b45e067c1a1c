//! GraphQL tokens (spec §2.1): punctuators, names, numbers and strings; whitespace, commas,
//! comments and the BOM are skipped. Columns count chars, as async-graphql-parser's did.

use super::super::ast::Pos;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok<'s> {
    /// One of `! $ & ( ) : = @ [ ] { | }`.
    Punct(u8),
    /// `...`
    Spread,
    Name(&'s str),
    Int(&'s str),
    Float(&'s str),
    /// A string or block string, unescaped.
    Str(String),
    Eof,
}

impl Tok<'_> {
    /// What the token is, for error messages. Never its text: a string may hold a secret.
    pub fn describe(&self) -> String {
        match self {
            Tok::Punct(c) => format!("`{}`", *c as char),
            Tok::Spread => "`...`".into(),
            Tok::Name(_) => "a name".into(),
            Tok::Int(_) | Tok::Float(_) => "a number".into(),
            Tok::Str(_) => "a string".into(),
            Tok::Eof => "the end of the query".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token<'s> {
    pub tok: Tok<'s>,
    pub pos: Pos,
}

/// A lexing error: what is wrong, and where.
pub(super) type LexError = (String, Pos);

pub(super) struct Lexer<'s> {
    src: &'s str,
    bytes: &'s [u8],
    i: usize,
    line: usize,
    column: usize,
}

fn is_name_start(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphabetic()
}

fn is_name_continue(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphanumeric()
}

impl<'s> Lexer<'s> {
    pub fn new(src: &'s str) -> Lexer<'s> {
        Lexer { src, bytes: src.as_bytes(), i: 0, line: 1, column: 1 }
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, column: self.column }
    }

    fn peek_at(&self, k: usize) -> Option<u8> {
        self.bytes.get(self.i + k).copied()
    }

    /// Moves over one byte, keeping line and column (a column per char, a line per
    /// terminator: `\n`, `\r\n` or a lone `\r`).
    fn bump(&mut self) {
        let Some(b) = self.peek_at(0) else {
            return;
        };
        self.i += 1;
        match b {
            b'\n' => {
                self.line += 1;
                self.column = 1;
            }
            b'\r' if self.peek_at(0) != Some(b'\n') => {
                self.line += 1;
                self.column = 1;
            }
            b'\r' => {}
            // UTF-8 continuation bytes belong to the char already counted.
            b if b & 0xC0 == 0x80 => {}
            _ => self.column += 1,
        }
    }

    fn bump_n(&mut self, n: usize) {
        for _ in 0..n {
            self.bump();
        }
    }

    fn skip_ignored(&mut self) {
        while let Some(b) = self.peek_at(0) {
            match b {
                b' ' | b'\t' | b',' | b'\n' | b'\r' => self.bump(),
                0xEF if self.bytes[self.i..].starts_with("\u{feff}".as_bytes()) => self.bump_n(3),
                b'#' => {
                    while let Some(c) = self.peek_at(0) {
                        if c == b'\n' || c == b'\r' {
                            break;
                        }
                        self.bump();
                    }
                }
                _ => break,
            }
        }
    }

    /// The next token.
    pub fn next_token(&mut self) -> Result<Token<'s>, LexError> {
        self.skip_ignored();
        let pos = self.pos();
        let Some(b) = self.peek_at(0) else {
            return Ok(Token { tok: Tok::Eof, pos });
        };
        let tok = match b {
            b'!' | b'$' | b'&' | b'(' | b')' | b':' | b'=' | b'@' | b'[' | b']' | b'{' | b'|' | b'}' => {
                self.bump();
                Tok::Punct(b)
            }
            b'.' => {
                if self.bytes[self.i..].starts_with(b"...") {
                    self.bump_n(3);
                    Tok::Spread
                } else {
                    return Err(("`.` must be part of `...`".into(), pos));
                }
            }
            b'"' => Tok::Str(self.string(pos)?),
            b'-' | b'0'..=b'9' => self.number(pos)?,
            b if is_name_start(b) => {
                let start = self.i;
                while self.peek_at(0).is_some_and(is_name_continue) {
                    self.bump();
                }
                Tok::Name(&self.src[start..self.i])
            }
            _ => return Err(("unexpected character".into(), pos)),
        };
        Ok(Token { tok, pos })
    }

    fn digits(&mut self) -> usize {
        let mut n = 0;
        while self.peek_at(0).is_some_and(|b| b.is_ascii_digit()) {
            self.bump();
            n += 1;
        }
        n
    }

    fn number(&mut self, pos: Pos) -> Result<Tok<'s>, LexError> {
        let start = self.i;
        let invalid = || ("invalid number".to_string(), pos);
        if self.peek_at(0) == Some(b'-') {
            self.bump();
        }
        let int_start = self.i;
        if self.digits() == 0 || (self.bytes[int_start] == b'0' && self.i - int_start > 1) {
            return Err(invalid());
        }
        let mut float = false;
        if self.peek_at(0) == Some(b'.') {
            self.bump();
            if self.digits() == 0 {
                return Err(invalid());
            }
            float = true;
        }
        if matches!(self.peek_at(0), Some(b'e' | b'E')) {
            self.bump();
            if matches!(self.peek_at(0), Some(b'+' | b'-')) {
                self.bump();
            }
            if self.digits() == 0 {
                return Err(invalid());
            }
            float = true;
        }
        if self.peek_at(0).is_some_and(|b| is_name_start(b) || b == b'.') {
            return Err(invalid());
        }
        let text = &self.src[start..self.i];
        Ok(if float { Tok::Float(text) } else { Tok::Int(text) })
    }

    fn string(&mut self, pos: Pos) -> Result<String, LexError> {
        if self.bytes[self.i..].starts_with(b"\"\"\"") {
            return self.block_string(pos);
        }
        self.bump();
        let unterminated = || ("unterminated string".to_string(), pos);
        let mut out = String::new();
        loop {
            let start = self.i;
            while self.peek_at(0).is_some_and(|b| !matches!(b, b'"' | b'\\' | b'\n' | b'\r')) {
                self.bump();
            }
            out.push_str(&self.src[start..self.i]);
            match self.peek_at(0) {
                Some(b'"') => {
                    self.bump();
                    return Ok(out);
                }
                Some(b'\\') => {
                    let at = self.pos();
                    self.bump();
                    let bad = || ("invalid escape sequence in a string".to_string(), at);
                    let c = match self.peek_at(0).ok_or_else(unterminated)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            self.bump();
                            let hi = self.hex4().ok_or_else(bad)?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                // A surrogate pair, as JSON encoders write non-BMP chars.
                                if !self.bytes[self.i..].starts_with(b"\\u") {
                                    return Err(bad());
                                }
                                self.bump_n(2);
                                let lo = self.hex4().filter(|lo| (0xDC00..0xE000).contains(lo)).ok_or_else(bad)?;
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(char::from_u32(code).ok_or_else(bad)?);
                            continue;
                        }
                        _ => return Err(bad()),
                    };
                    self.bump();
                    out.push(c);
                }
                _ => return Err(unterminated()),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let text = self.src.get(self.i..self.i + 4)?;
        let v = u32::from_str_radix(text, 16).ok().filter(|_| text.bytes().all(|b| b.is_ascii_hexdigit()))?;
        self.bump_n(4);
        Some(v)
    }

    fn block_string(&mut self, pos: Pos) -> Result<String, LexError> {
        self.bump_n(3);
        let mut raw = String::new();
        loop {
            let start = self.i;
            while self.peek_at(0).is_some_and(|b| b != b'"' && b != b'\\') {
                self.bump();
            }
            raw.push_str(&self.src[start..self.i]);
            let rest = &self.bytes[self.i..];
            if rest.is_empty() {
                return Err(("unterminated block string".into(), pos));
            } else if rest.starts_with(b"\"\"\"") {
                self.bump_n(3);
                return Ok(block_string_value(&raw));
            } else if rest.starts_with(b"\\\"\"\"") {
                self.bump_n(4);
                raw.push_str("\"\"\"");
            } else {
                raw.push(rest[0] as char);
                self.bump();
            }
        }
    }
}

/// The value of a block string (spec §2.9.5): common indentation and blank first and last
/// lines removed, lines joined with `\n`.
fn block_string_value(raw: &str) -> String {
    let lines: Vec<&str> = raw.split("\r\n").flat_map(|s| s.split(['\r', '\n'])).collect();
    let blank = |l: &str| l.bytes().all(|c| c == b' ' || c == b'\t');
    let indent = lines.iter().skip(1).filter_map(|l| l.find(|c| c != ' ' && c != '\t')).min().unwrap_or(0);
    let first = lines.iter().position(|l| !blank(l)).unwrap_or(lines.len());
    let last = lines.iter().rposition(|l| !blank(l)).map_or(0, |i| i + 1);
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate().take(last).skip(first) {
        if i > first {
            out.push('\n');
        }
        out.push_str(if i > 0 && line.len() >= indent { &line[indent..] } else { line });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lexes `src` fully and compares the tokens (or the first error) with `want`.
    fn check(src: &str, want: Result<Vec<Tok<'_>>, &str>) {
        let mut lx = Lexer::new(src);
        let mut got = Vec::new();
        let got = loop {
            match lx.next_token() {
                Ok(Token { tok: Tok::Eof, .. }) => break Ok(got),
                Ok(t) => got.push(t.tok),
                Err((msg, _)) => break Err(msg),
            }
        };
        assert_eq!(got, want.map_err(str::to_string), "{src:?}");
    }

    #[test]
    fn tokens() {
        use Tok::*;
        check(
            "{ a(b: -1.5e3) }",
            Ok(vec![
                Punct(b'{'),
                Name("a"),
                Punct(b'('),
                Name("b"),
                Punct(b':'),
                Float("-1.5e3"),
                Punct(b')'),
                Punct(b'}'),
            ]),
        );
        check("\u{feff}# comment\n ,,... 0 12 $x", Ok(vec![Spread, Int("0"), Int("12"), Punct(b'$'), Name("x")]));
        check(r#""a\"b\\\/\n\u00e9\uD83D\uDE00""#, Ok(vec![Str("a\"b\\/\né😀".into())]));
        check("\"\"\"\n    one\n      two \\\"\"\"\n  \"\"\"", Ok(vec![Str("one\n  two \"\"\"".into())]));
        check("\"héllo\"", Ok(vec![Str("héllo".into())]));
        check("\"open", Err("unterminated string"));
        check("\"a\nb\"", Err("unterminated string"));
        check("\"\"\"open", Err("unterminated block string"));
        check(r#""\q""#, Err("invalid escape sequence in a string"));
        check(r#""\uD83D""#, Err("invalid escape sequence in a string"));
        check("01", Err("invalid number"));
        check("1.", Err("invalid number"));
        check("1e", Err("invalid number"));
        check("12abc", Err("invalid number"));
        check("1.5.2", Err("invalid number"));
        check("..", Err("`.` must be part of `...`"));
        check("%", Err("unexpected character"));
    }

    #[test]
    fn positions() {
        let mut lx = Lexer::new("{\r\n  \"é\" a\r b\n\"\"\"x\ny\"\"\" c");
        let mut pos = Vec::new();
        while let Ok(t) = lx.next_token() {
            if t.tok == Tok::Eof {
                break;
            }
            pos.push((t.pos.line, t.pos.column));
        }
        // `é` is one column; `\r\n` and a lone `\r` each end a line; block strings span lines.
        assert_eq!(pos, vec![(1, 1), (2, 3), (2, 7), (3, 2), (4, 1), (5, 6)]);
    }
}
