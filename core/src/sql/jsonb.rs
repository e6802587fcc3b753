//! `jsonb`: JSON kept as PostgreSQL's jsonb keeps it, a tree whose objects
//! hold each key once (the last one written wins) in PostgreSQL's order,
//! shorter keys first and then by bytes, and whose numbers are `numeric`
//! (`1.50` stays `1.50`, `1e2` becomes `100`). Output is PostgreSQL's:
//! `{"a": 1, "b": [1, 2]}`, a space after each colon and comma.
//!
//! The parser is this file's own rather than serde_json's: serde_json
//! without its `arbitrary_precision` feature reads numbers into binary
//! floats (`1.50` would print `1.5`, and long numbers would change), and that
//! feature would change serde_json for the whole workspace. Errors are
//! PostgreSQL's: 22P02 `invalid input syntax for type json` with its detail
//! (`Token "tru" is invalid.`, `The input string ended unexpectedly.`), and
//! 22P05 for `\u0000`. Nesting is bounded as PostgreSQL bounds it by stack.
//!
//! Ordering is PostgreSQL's jsonb btree order: object > array > boolean >
//! number > string > null; arrays and objects by their size first, then
//! element by element (objects key, then value, in their stored order).

use std::cmp::Ordering;
use std::fmt;

use super::error::{SqlError, SqlResult, SqlState};
use crate::numeric::Numeric;

/// Deepest nesting accepted (PostgreSQL's limit is its stack depth).
const DEPTH_MAX: usize = 1000;

/// One JSON value; the variants in the order jsonb sorts them.
#[derive(Clone, Debug)]
pub enum Jsonb {
    Null,
    String(String),
    Number(Numeric),
    Bool(bool),
    Array(Vec<Jsonb>),
    /// Keys unique, ordered by [`key_order`].
    Object(Vec<(String, Jsonb)>),
}

/// jsonb's order of object keys: shorter first, then by bytes.
pub fn key_order(left: &str, right: &str) -> Ordering {
    left.len().cmp(&right.len()).then_with(|| left.as_bytes().cmp(right.as_bytes()))
}

impl Jsonb {
    fn rank(&self) -> u8 {
        match self {
            Jsonb::Null => 0,
            Jsonb::String(_) => 1,
            Jsonb::Number(_) => 2,
            Jsonb::Bool(_) => 3,
            Jsonb::Array(_) => 4,
            Jsonb::Object(_) => 5,
        }
    }

    /// `json -> 'key'`: an object's field.
    pub fn field(&self, key: &str) -> Option<&Jsonb> {
        match self {
            Jsonb::Object(pairs) => pairs.iter().find(|(name, _)| name == key).map(|(_, value)| value),
            _ => None,
        }
    }

    /// `json -> n`: an array's element, counting from the end when negative.
    pub fn element(&self, index: i64) -> Option<&Jsonb> {
        let Jsonb::Array(elements) = self else { return None };
        let length = elements.len() as i64;
        let index = if index < 0 { index + length } else { index };
        usize::try_from(index).ok().and_then(|index| elements.get(index))
    }

    /// The text `->>` gives: a string unquoted, JSON null as SQL NULL, the rest as jsonb text.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Jsonb::Null => None,
            Jsonb::String(text) => Some(text.clone()),
            other => Some(other.to_string()),
        }
    }
}

impl PartialEq for Jsonb {
    fn eq(&self, other: &Jsonb) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Jsonb {}

impl PartialOrd for Jsonb {
    fn partial_cmp(&self, other: &Jsonb) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Jsonb {
    fn cmp(&self, other: &Jsonb) -> Ordering {
        match (self, other) {
            (Jsonb::String(left), Jsonb::String(right)) => left.as_bytes().cmp(right.as_bytes()),
            (Jsonb::Number(left), Jsonb::Number(right)) => left.cmp(right),
            (Jsonb::Bool(left), Jsonb::Bool(right)) => left.cmp(right),
            (Jsonb::Array(left), Jsonb::Array(right)) => left.len().cmp(&right.len()).then_with(|| left.cmp(right)),
            (Jsonb::Object(left), Jsonb::Object(right)) => left.len().cmp(&right.len()).then_with(|| {
                let pairs = left.iter().zip(right);
                pairs
                    .map(|((left_key, left), (right_key, right))| {
                        left_key.as_bytes().cmp(right_key.as_bytes()).then_with(|| left.cmp(right))
                    })
                    .find(|order| order.is_ne())
                    .unwrap_or(Ordering::Equal)
            }),
            (left, right) => left.rank().cmp(&right.rank()),
        }
    }
}

fn write_string(formatter: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    formatter.write_str("\"")?;
    for character in text.chars() {
        match character {
            '"' => formatter.write_str("\\\"")?,
            '\\' => formatter.write_str("\\\\")?,
            '\u{8}' => formatter.write_str("\\b")?,
            '\u{c}' => formatter.write_str("\\f")?,
            '\n' => formatter.write_str("\\n")?,
            '\r' => formatter.write_str("\\r")?,
            '\t' => formatter.write_str("\\t")?,
            control if u32::from(control) < 0x20 => write!(formatter, "\\u{:04x}", u32::from(control))?,
            other => write!(formatter, "{other}")?,
        }
    }
    formatter.write_str("\"")
}

impl fmt::Display for Jsonb {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Jsonb::Null => formatter.write_str("null"),
            Jsonb::Bool(value) => formatter.write_str(if *value { "true" } else { "false" }),
            Jsonb::Number(number) => write!(formatter, "{number}"),
            Jsonb::String(text) => write_string(formatter, text),
            Jsonb::Array(elements) => {
                formatter.write_str("[")?;
                for (index, element) in elements.iter().enumerate() {
                    if index > 0 {
                        formatter.write_str(", ")?;
                    }
                    write!(formatter, "{element}")?;
                }
                formatter.write_str("]")
            }
            Jsonb::Object(pairs) => {
                formatter.write_str("{")?;
                for (index, (key, value)) in pairs.iter().enumerate() {
                    if index > 0 {
                        formatter.write_str(", ")?;
                    }
                    write_string(formatter, key)?;
                    write!(formatter, ": {value}")?;
                }
                formatter.write_str("}")
            }
        }
    }
}

/// Reads JSON text into jsonb.
pub fn parse(text: &str) -> SqlResult<Jsonb> {
    let mut parser = Parser { input: text.as_bytes(), position: 0 };
    let value = parser.value(0)?;
    parser.spaces();
    if parser.position < parser.input.len() {
        return Err(parser.invalid_token());
    }
    Ok(value)
}

struct Parser<'a> {
    input: &'a [u8],
    position: usize,
}

fn syntax(detail: String) -> SqlError {
    SqlError::new(SqlState::INVALID_TEXT_REPRESENTATION, "invalid input syntax for type json").with_detail(detail)
}

impl Parser<'_> {
    fn spaces(&mut self) {
        while self.input.get(self.position).is_some_and(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r')) {
            self.position += 1;
        }
    }

    fn ended() -> SqlError {
        syntax("The input string ended unexpectedly.".into())
    }

    /// The token at the cursor as PostgreSQL's lexer cuts it: a word, or one character.
    fn token(&self) -> String {
        let rest = &self.input[self.position..];
        let word = rest.iter().take_while(|byte| byte.is_ascii_alphanumeric() || **byte >= 0x80).count();
        let length = if word == 0 { 1 } else { word };
        String::from_utf8_lossy(&rest[..length.min(rest.len())]).into_owned()
    }

    fn invalid_token(&self) -> SqlError {
        syntax(format!("Token \"{}\" is invalid.", self.token()))
    }

    fn expected(&self, what: &str) -> SqlError {
        if self.position >= self.input.len() {
            return Parser::ended();
        }
        syntax(format!("Expected {what}, but found \"{}\".", self.token()))
    }

    fn value(&mut self, depth: usize) -> SqlResult<Jsonb> {
        if depth > DEPTH_MAX {
            return Err(SqlError::new(SqlState::PROGRAM_LIMIT_EXCEEDED, "stack depth limit exceeded"));
        }
        self.spaces();
        let Some(&byte) = self.input.get(self.position) else { return Err(Parser::ended()) };
        match byte {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => self.string().map(Jsonb::String),
            b'-' | b'0'..=b'9' => self.number(),
            _ => {
                let token = self.token();
                let value = match token.as_str() {
                    "true" => Jsonb::Bool(true),
                    "false" => Jsonb::Bool(false),
                    "null" => Jsonb::Null,
                    _ if byte.is_ascii_alphanumeric() || byte >= 0x80 => return Err(self.invalid_token()),
                    _ => return Err(self.expected("JSON value")),
                };
                self.position += token.len();
                Ok(value)
            }
        }
    }

    fn array(&mut self, depth: usize) -> SqlResult<Jsonb> {
        self.position += 1;
        let mut elements = Vec::new();
        self.spaces();
        if self.input.get(self.position) == Some(&b']') {
            self.position += 1;
            return Ok(Jsonb::Array(elements));
        }
        loop {
            elements.push(self.value(depth + 1)?);
            self.spaces();
            match self.input.get(self.position) {
                Some(b',') => self.position += 1,
                Some(b']') => {
                    self.position += 1;
                    return Ok(Jsonb::Array(elements));
                }
                _ => return Err(self.expected("\",\" or \"]\"")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> SqlResult<Jsonb> {
        self.position += 1;
        let mut pairs: Vec<(String, Jsonb)> = Vec::new();
        self.spaces();
        if self.input.get(self.position) == Some(&b'}') {
            self.position += 1;
            return Ok(Jsonb::Object(pairs));
        }
        loop {
            self.spaces();
            if self.input.get(self.position) != Some(&b'"') {
                return Err(self.expected("string"));
            }
            let key = self.string()?;
            self.spaces();
            if self.input.get(self.position) != Some(&b':') {
                return Err(self.expected("\":\""));
            }
            self.position += 1;
            let value = self.value(depth + 1)?;
            match pairs.binary_search_by(|(existing, _)| key_order(existing, &key)) {
                Ok(found) => pairs[found].1 = value,
                Err(at) => pairs.insert(at, (key, value)),
            }
            self.spaces();
            match self.input.get(self.position) {
                Some(b',') => self.position += 1,
                Some(b'}') => {
                    self.position += 1;
                    return Ok(Jsonb::Object(pairs));
                }
                _ => return Err(self.expected("\",\" or \"}\"")),
            }
        }
    }

    fn number(&mut self) -> SqlResult<Jsonb> {
        let start = self.position;
        let digits = |parser: &mut Parser| {
            let from = parser.position;
            while parser.input.get(parser.position).is_some_and(u8::is_ascii_digit) {
                parser.position += 1;
            }
            parser.position - from
        };
        if self.input[self.position] == b'-' {
            self.position += 1;
        }
        let integer_start = self.position;
        let integer_digits = digits(self);
        let leading_zero = integer_digits > 1 && self.input[integer_start] == b'0';
        let mut valid = integer_digits > 0 && !leading_zero;
        if self.input.get(self.position) == Some(&b'.') {
            self.position += 1;
            valid &= digits(self) > 0;
        }
        if matches!(self.input.get(self.position), Some(b'e' | b'E')) {
            self.position += 1;
            if matches!(self.input.get(self.position), Some(b'+' | b'-')) {
                self.position += 1;
            }
            valid &= digits(self) > 0;
        }
        // A number running into letters is one bad token, as in PostgreSQL (`01`, `1x`).
        while self.input.get(self.position).is_some_and(|byte| byte.is_ascii_alphanumeric()) {
            self.position += 1;
            valid = false;
        }
        let text = std::str::from_utf8(&self.input[start..self.position]).expect("ASCII");
        if !valid {
            return Err(syntax(format!("Token \"{text}\" is invalid.")));
        }
        text.parse::<Numeric>().map(Jsonb::Number).map_err(|_| syntax(format!("Token \"{text}\" is invalid.")))
    }

    fn string(&mut self) -> SqlResult<String> {
        self.position += 1;
        let mut bytes = Vec::new();
        loop {
            let Some(&byte) = self.input.get(self.position) else { return Err(Parser::ended()) };
            self.position += 1;
            match byte {
                b'"' => return Ok(String::from_utf8(bytes).expect("built from UTF-8 input and chars")),
                b'\\' => {
                    let Some(&escape) = self.input.get(self.position) else { return Err(Parser::ended()) };
                    self.position += 1;
                    let character = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        other => {
                            return Err(syntax(format!("Escape sequence \"\\{}\" is invalid.", other as char)));
                        }
                    };
                    bytes.extend_from_slice(character.encode_utf8(&mut [0; 4]).as_bytes());
                }
                control if control < 0x20 => {
                    return Err(syntax(format!("Character with value 0x{control:02x} must be escaped.")));
                }
                other => bytes.push(other),
            }
        }
    }

    fn hex4(&mut self) -> SqlResult<u32> {
        let digits = self.input.get(self.position..self.position + 4).ok_or_else(Parser::ended)?;
        let text = std::str::from_utf8(digits).ok().filter(|text| text.bytes().all(|byte| byte.is_ascii_hexdigit()));
        let text = text.ok_or_else(|| syntax("\"\\u\" must be followed by four hexadecimal digits.".into()))?;
        self.position += 4;
        Ok(u32::from_str_radix(text, 16).expect("hex digits"))
    }

    fn unicode_escape(&mut self) -> SqlResult<char> {
        let first = self.hex4()?;
        let unpaired = || syntax("Unicode low surrogate must follow a high surrogate.".into());
        let code = match first {
            0 => {
                return Err(SqlError::new(SqlState("22P05"), "unsupported Unicode escape sequence")
                    .with_detail("\\u0000 cannot be converted to text."))
            }
            0xd800..=0xdbff => {
                if self.input.get(self.position..self.position + 2) != Some(b"\\u") {
                    return Err(syntax("Unicode high surrogate must not follow a high surrogate.".into()));
                }
                self.position += 2;
                let second = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&second) {
                    return Err(unpaired());
                }
                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(unpaired()),
            code => code,
        };
        char::from_u32(code).ok_or_else(unpaired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalised(text: &str) -> String {
        parse(text).unwrap().to_string()
    }

    fn detail(text: &str) -> String {
        let error = parse(text).unwrap_err();
        assert_eq!(error.state, SqlState::INVALID_TEXT_REPRESENTATION, "{text}");
        error.detail.unwrap()
    }

    #[test]
    fn output_is_normalised_as_postgresql_15_normalises_it() {
        assert_eq!(normalised(r#"{"b": [1, 2], "a": 1, "aa": 2, "a": 3}"#), r#"{"a": 3, "b": [1, 2], "aa": 2}"#);
        assert_eq!(
            normalised(r#"[1.50, 1e2, -0, 1E-2, "x\u00e9\n", true, null, {}]"#),
            r#"[1.50, 100, 0, 0.01, "xé\n", true, null, {}]"#
        );
        assert_eq!(normalised(" \"a\" "), "\"a\"");
        assert_eq!(normalised(r#"{"a":{"c":1,"b":2}}"#), r#"{"a": {"b": 2, "c": 1}}"#);
        assert_eq!(normalised(r#""q\"\\\/\u0001\ud83d\ude00""#), "\"q\\\"\\\\/\\u0001😀\"");
    }

    #[test]
    fn errors_carry_postgresqls_details() {
        assert_eq!(detail(r#"{"a" 1}"#), "Expected \":\", but found \"1\".");
        assert_eq!(detail("[1,]"), "Expected JSON value, but found \"]\".");
        assert_eq!(detail("tru"), "Token \"tru\" is invalid.");
        assert_eq!(detail("01"), "Token \"01\" is invalid.");
        assert_eq!(detail(r#"{"a":1} x"#), "Token \"x\" is invalid.");
        assert_eq!(detail("{"), "The input string ended unexpectedly.");
        let error = parse(r#""\u0000""#).unwrap_err();
        assert_eq!((error.state.0, error.message.as_str()), ("22P05", "unsupported Unicode escape sequence"));
        let deep = "[".repeat(5000);
        assert_eq!(parse(&deep).unwrap_err().state, SqlState::PROGRAM_LIMIT_EXCEEDED);
    }

    #[test]
    fn operators_and_order_as_postgresql_15() {
        let json = |text: &str| parse(text).unwrap();
        let nested = json(r#"{"a":{"c":1,"b":2}}"#);
        assert_eq!(nested.field("a").unwrap().to_string(), r#"{"b": 2, "c": 1}"#);
        assert_eq!(nested.field("z"), None);
        let array = json(r#"[1,"x",null]"#);
        assert_eq!(array.element(1).and_then(Jsonb::as_text).as_deref(), Some("x"));
        assert_eq!(array.element(2).and_then(Jsonb::as_text), None, "JSON null is SQL NULL under ->>");
        assert_eq!(array.element(-1), Some(&Jsonb::Null));
        assert_eq!(array.element(5), None);
        assert_eq!(json(r#"{"a":1}"#), json(r#"{ "a" : 1 }"#));
        assert_ne!(json("[1,2]"), json("[2,1]"));
        assert_eq!(json("1.0"), json("1"));
        // `select '{}'::jsonb < '[]', '1'::jsonb < '"a"', 'null'::jsonb < '1', '[1,2]'::jsonb < '[3]'`: f f t f
        assert!(json("{}") > json("[]") && json("1") > json("\"a\"") && json("null") < json("1"));
        assert!(json("[1,2]") > json("[3]"));
    }
}
