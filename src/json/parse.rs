//! Single-line JSON parser that accepts and rejects exactly what CPython 3.11's `json.loads` (strict
//! mode) does, so both tools agree on which shard lines are valid and on every value they contain.

use std::borrow::Cow;
use std::fmt;

/// Deep enough for any real record, shallow enough that recursive descent cannot exhaust the stack
/// on hostile input.
const MAX_DEPTH: usize = 256;

/// CPython 3.11 refuses to convert longer integer literals (`sys.int_info.default_max_str_digits`),
/// so `json.loads` raises on them; rejecting them too keeps the two tools in step.
const MAX_INT_DIGITS: usize = 4300;

/// Objects with at most this many members are checked for repeated keys pairwise; beyond it a sort
/// keeps hostile objects with many keys from turning the check quadratic.
const PAIRWISE_DUP_CHECK_MAX: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// Integer literal (no fraction, no exponent) kept as its source text, e.g. "-12",
    /// "123456789012345678901234567890".
    Int(&'a str),
    /// Number with a fraction or exponent, or NaN / Infinity / -Infinity.
    Float(f64),
    Str(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    /// Members in first-occurrence order; a repeated key keeps its first position but the LAST value
    /// (Python dict semantics).
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl<'a> Value<'a> {
    /// For Object: the value of `key` (None if absent or not an object).
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Object(members) => members
                .iter()
                .find(|(k, _)| k.as_ref() == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// True when dropping the value frees memory (an unescaped string, a number or a
    /// literal borrows from the line or holds none).
    fn owns_memory(&self) -> bool {
        matches!(
            self,
            Value::Str(Cow::Owned(_)) | Value::Array(_) | Value::Object(_)
        )
    }

    /// Python type name for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Array(_) => "list",
            Value::Object(_) => "dict",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based byte column in the line.
    pub column: usize,
    pub message: String,
}

impl ParseError {
    /// Errors are the rare path; keeping construction out of line keeps the hot loops small.
    #[cold]
    #[inline(never)]
    fn at(offset: usize, message: impl Into<String>) -> Self {
        ParseError {
            column: offset + 1,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.message, self.column)
    }
}

impl std::error::Error for ParseError {}

/// Parse one JSONL line (already without its trailing "\n"; may still carry leading/trailing JSON
/// whitespace and a trailing "\r").
pub fn parse_line(line: &[u8]) -> Result<Value<'_>, ParseError> {
    parse_document(line, Parser::parse_value)
}

/// One line parsed for the few members a caller reads: what [`parse_record`] returns.
#[derive(Debug, PartialEq)]
pub enum Record<'a, const N: usize> {
    /// The line holds an object: for each wanted key, its value (the last one given, as
    /// Python's dict keeps it), or `None` when the key is absent.
    Object([Option<Value<'a>>; N]),
    /// The line holds something else, whole (its type names it in messages).
    Other(Value<'a>),
}

impl<const N: usize> Record<'_, N> {
    /// Lets go of the record, freeing only the values that own memory.
    ///
    /// A shard row's values almost all borrow from the line, yet dropping the record the
    /// usual way calls the value's drop code, out of line, once per slot: fifteen calls
    /// a row, about 2 % of a 10M-row run's CPU. Here the check is a compare in line.
    pub fn release(self) {
        // Looked at in place: taking the slots apart by value would first copy all of
        // them (half a kilobyte a row, 5 % of the scan's parsing at 3M rows).
        let owns = match &self {
            Record::Object(slots) => slots.iter().flatten().any(Value::owns_memory),
            Record::Other(_) => true,
        };
        if owns {
            drop(self);
        } else {
            // Every value borrows from the line: nothing to free.
            std::mem::forget(self);
        }
    }
}

/// Parse one JSONL line as [`parse_line`] does (the same lines are valid, with the same errors)
/// but keep of a top-level object only the members `slot_of` gives a slot below `N`.
///
/// A shard row has about sixteen members and the loader reads fifteen: sorting each member into
/// its slot as it is parsed skips allocating a list of them, resolving repeated keys over it
/// and searching it again for every field.
pub fn parse_record<const N: usize>(
    line: &[u8],
    slot_of: impl Fn(&str) -> Option<usize>,
) -> Result<Record<'_, N>, ParseError> {
    parse_document(line, |parser| {
        let open = parser.pos;
        if parser.peek() != Some(b'{') {
            return parser.parse_value().map(Record::Other);
        }
        let mut slots = [const { None }; N];
        parser.object_members(open, |_, key, value| {
            if let Some(slot) = slot_of(&key).and_then(|i| slots.get_mut(i)) {
                *slot = Some(value);
            }
        })?;
        Ok(Record::Object(slots))
    })
}

/// The frame of every line: valid UTF-8, one value between optional whitespace, nothing after.
fn parse_document<'a, T>(
    line: &'a [u8],
    value: impl FnOnce(&mut Parser<'a>) -> Result<T, ParseError>,
) -> Result<T, ParseError> {
    // Validating once up front lets every later step work on bytes and still hand out `&str`
    // slices, since all slice boundaries sit next to ASCII delimiters.
    let text = std::str::from_utf8(line)
        .map_err(|e| ParseError::at(e.valid_up_to(), "Invalid UTF-8 byte sequence"))?;
    let mut parser = Parser {
        text,
        bytes: line,
        pos: 0,
        depth: 0,
        members: Vec::new(),
        items: Vec::new(),
    };
    parser.skip_ws();
    let value = value(&mut parser)?;
    parser.skip_ws();
    if parser.pos != line.len() {
        return Err(ParseError::at(parser.pos, "Extra data"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    // Containers collect their children on these shared stacks and move them out in one exactly
    // sized allocation when they close, instead of growing a fresh Vec per container.
    members: Vec<(Cow<'a, str>, Value<'a>)>,
    items: Vec<Value<'a>>,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn parse_value(&mut self) -> Result<Value<'a>, ParseError> {
        let start = self.pos;
        match self.peek() {
            Some(b'"') => {
                self.pos += 1;
                self.parse_string(start).map(Value::Str)
            }
            Some(b'{') => self.parse_object(start),
            Some(b'[') => self.parse_array(start),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'N') => self.literal(b"NaN", Value::Float(f64::NAN)),
            Some(b'I') => self.literal(b"Infinity", Value::Float(f64::INFINITY)),
            Some(b'-' | b'0'..=b'9') => self.parse_number(start),
            _ => Err(ParseError::at(start, "Expecting value")),
        }
    }

    fn literal(&mut self, word: &[u8], value: Value<'a>) -> Result<Value<'a>, ParseError> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(ParseError::at(self.pos, "Expecting value"))
        }
    }

    fn parse_number(&mut self, start: usize) -> Result<Value<'a>, ParseError> {
        let b = self.bytes;
        let mut i = start;
        let negative = b[i] == b'-';
        if negative {
            i += 1;
            if b[i..].starts_with(b"Infinity") {
                self.pos = i + b"Infinity".len();
                return Ok(Value::Float(f64::NEG_INFINITY));
            }
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => i = skip_digits(b, i + 1),
            _ => return Err(ParseError::at(start, "Expecting value")),
        }
        let int_end = i;
        // Like Python, a '.' or exponent marker without digits after it is not part of the number;
        // the leftover byte then fails as the next token.
        if b.get(i) == Some(&b'.') && matches!(b.get(i + 1), Some(b'0'..=b'9')) {
            i = skip_digits(b, i + 2);
        }
        if let Some(b'e' | b'E') = b.get(i) {
            let mut j = i + 1;
            if let Some(b'+' | b'-') = b.get(j) {
                j += 1;
            }
            if let Some(b'0'..=b'9') = b.get(j) {
                i = skip_digits(b, j + 1);
            }
        }
        self.pos = i;
        let literal = &self.text[start..i];
        if i != int_end {
            return literal
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| ParseError::at(start, "Invalid number"));
        }
        let digits = int_end - start - usize::from(negative);
        if digits > MAX_INT_DIGITS {
            return Err(ParseError::at(
                start,
                format!(
                    "Exceeds the limit ({MAX_INT_DIGITS} digits) for integer string conversion: \
                     value has {digits} digits"
                ),
            ));
        }
        Ok(Value::Int(literal))
    }

    /// `open` is the offset of the opening quote; `self.pos` is just past it.
    fn parse_string(&mut self, open: usize) -> Result<Cow<'a, str>, ParseError> {
        let b = self.bytes;
        let start = self.pos;
        let mut i = find_special(b, start);
        if b.get(i) == Some(&b'"') {
            self.pos = i + 1;
            return Ok(Cow::Borrowed(&self.text[start..i]));
        }
        let mut buf = String::with_capacity(i - start + 16);
        buf.push_str(&self.text[start..i]);
        loop {
            match b.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(Cow::Owned(buf));
                }
                Some(b'\\') => i = self.unescape(i, open, &mut buf)?,
                Some(_) => return Err(ParseError::at(i, "Invalid control character")),
                None => return Err(ParseError::at(open, "Unterminated string starting")),
            }
            let run_end = find_special(b, i);
            buf.push_str(&self.text[i..run_end]);
            i = run_end;
        }
    }

    /// Decodes the escape whose backslash is at `at` into `buf`; returns the offset after it.
    fn unescape(&self, at: usize, open: usize, buf: &mut String) -> Result<usize, ParseError> {
        let b = self.bytes;
        let Some(&kind) = b.get(at + 1) else {
            return Err(ParseError::at(open, "Unterminated string starting"));
        };
        let ch = match kind {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unescape_unicode(at, buf),
            _ => return Err(ParseError::at(at, "Invalid \\escape")),
        };
        buf.push(ch);
        Ok(at + 2)
    }

    fn unescape_unicode(&self, at: usize, buf: &mut String) -> Result<usize, ParseError> {
        let b = self.bytes;
        // Python reports a malformed \u escape at its 'u'.
        let invalid = |u_offset: usize| ParseError::at(u_offset, "Invalid \\uXXXX escape");
        let unit = hex4(b, at + 2).ok_or_else(|| invalid(at + 1))?;
        let (code, end) = match unit {
            0xD800..=0xDBFF => {
                let low = if b.get(at + 6..at + 8) == Some(b"\\u") {
                    Some(hex4(b, at + 8).ok_or_else(|| invalid(at + 7))?)
                } else {
                    None
                };
                match low {
                    Some(low @ 0xDC00..=0xDFFF) => {
                        (0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), at + 12)
                    }
                    _ => return Err(lone_surrogate(at, unit)),
                }
            }
            0xDC00..=0xDFFF => return Err(lone_surrogate(at, unit)),
            _ => (unit, at + 6),
        };
        buf.push(char::from_u32(code).ok_or_else(|| invalid(at + 1))?);
        Ok(end)
    }

    fn enter(&mut self, open: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::at(
                open,
                format!("Nesting deeper than {MAX_DEPTH} levels is not supported"),
            ));
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    fn parse_object(&mut self, open: usize) -> Result<Value<'a>, ParseError> {
        if self.members.capacity() == 0 {
            // Records carry a few dozen fields; starting there skips the doubling steps that a
            // fresh per-line stack would otherwise repeat on every line.
            self.members.reserve(32);
        }
        let base = self.members.len();
        self.object_members(open, |parser, key, value| parser.members.push((key, value)))?;
        let mut members: Vec<_> = self.members.drain(base..).collect();
        dedup_keys(&mut members);
        Ok(Value::Object(members))
    }

    /// Parses the object whose `{` is at `open`, handing each member to `put` in source order.
    fn object_members(
        &mut self,
        open: usize,
        mut put: impl FnMut(&mut Self, Cow<'a, str>, Value<'a>),
    ) -> Result<(), ParseError> {
        self.enter(open)?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            let key_open = self.pos;
            if self.peek() != Some(b'"') {
                return Err(ParseError::at(
                    key_open,
                    "Expecting property name enclosed in double quotes",
                ));
            }
            self.pos += 1;
            let key = self.parse_string(key_open)?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(ParseError::at(self.pos, "Expecting ':' delimiter"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.parse_value()?;
            put(self, key, value);
            self.skip_ws();
            match self.peek() {
                Some(b'}') => break,
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                _ => return Err(ParseError::at(self.pos, "Expecting ',' delimiter")),
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(())
    }

    fn parse_array(&mut self, open: usize) -> Result<Value<'a>, ParseError> {
        self.enter(open)?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Array(Vec::new()));
        }
        let base = self.items.len();
        loop {
            let value = self.parse_value()?;
            self.items.push(value);
            self.skip_ws();
            match self.peek() {
                Some(b']') => break,
                Some(b',') => {
                    self.pos += 1;
                    self.skip_ws();
                }
                _ => return Err(ParseError::at(self.pos, "Expecting ',' delimiter")),
            }
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(Value::Array(self.items.drain(base..).collect()))
    }
}

#[cold]
fn lone_surrogate(at: usize, unit: u32) -> ParseError {
    ParseError::at(
        at,
        format!("Lone surrogate \\u{unit:04x} is not supported (Rust strings cannot hold it)"),
    )
}

fn skip_digits(b: &[u8], mut i: usize) -> usize {
    while let Some(b'0'..=b'9') = b.get(i) {
        i += 1;
    }
    i
}

fn hex4(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)?.iter().try_fold(0u32, |acc, &c| {
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        Some(acc << 4 | u32::from(digit))
    })
}

/// Offset of the first byte at or after `i` that ends a plain string run: `"`, `\` or a control
/// character (or `b.len()`).
fn find_special(b: &[u8], mut i: usize) -> usize {
    // Eight bytes per step; the lowest flag is the first special byte (see `word`).
    while let Some(chunk) = b.get(i..).and_then(|rest| rest.first_chunk::<8>()) {
        let flags = super::word::string_stops(u64::from_le_bytes(*chunk));
        if flags != 0 {
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        i += 1;
    }
    i
}

/// Python's dict keeps a repeated key at its first position with the last value assigned to it.
fn dedup_keys(members: &mut Vec<(Cow<'_, str>, Value<'_>)>) {
    let n = members.len();
    if n < 2 {
        return;
    }
    if n <= PAIRWISE_DUP_CHECK_MAX {
        let has_dup = (1..n).any(|i| members[..i].iter().any(|(k, _)| *k == members[i].0));
        if !has_dup {
            return;
        }
    }
    // Stable sort: equal keys stay in source order, so each group lists first..last occurrence.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| members[a].0.cmp(&members[b].0));
    let mut keep = vec![true; n];
    let mut group_start = 0;
    while group_start < n {
        let first = order[group_start];
        let mut group_end = group_start + 1;
        while group_end < n && members[order[group_end]].0 == members[first].0 {
            keep[order[group_end]] = false;
            group_end += 1;
        }
        if group_end - group_start > 1 {
            let last = order[group_end - 1];
            members[first].1 = std::mem::replace(&mut members[last].1, Value::Null);
        }
        group_start = group_end;
    }
    let mut index = 0;
    members.retain(|_| {
        index += 1;
        keep[index - 1]
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Value<'_> {
        match parse_line(text.as_bytes()) {
            Ok(v) => v,
            Err(e) => panic!("{text:?} should parse, got {e}"),
        }
    }

    fn parse_err(bytes: &[u8]) -> ParseError {
        match parse_line(bytes) {
            Ok(v) => panic!("{bytes:?} should fail, got {v:?}"),
            Err(e) => e,
        }
    }

    fn float(text: &str) -> f64 {
        match parse(text) {
            Value::Float(f) => f,
            other => panic!("{text:?} should be a float, got {other:?}"),
        }
    }

    fn string(text: &str) -> Cow<'_, str> {
        match parse(text) {
            Value::Str(s) => s,
            other => panic!("{text:?} should be a string, got {other:?}"),
        }
    }

    fn borrowed(s: &str) -> Cow<'_, str> {
        Cow::Borrowed(s)
    }

    #[test]
    fn literals() {
        assert_eq!(parse("null"), Value::Null);
        assert_eq!(parse("true"), Value::Bool(true));
        assert_eq!(parse("false"), Value::Bool(false));
        assert!(float("NaN").is_nan());
        assert_eq!(float("Infinity"), f64::INFINITY);
        assert_eq!(float("-Infinity"), f64::NEG_INFINITY);
    }

    #[test]
    fn integers_keep_source_text() {
        assert_eq!(parse("0"), Value::Int("0"));
        assert_eq!(parse("-0"), Value::Int("-0"));
        assert_eq!(parse("-12"), Value::Int("-12"));
        assert_eq!(
            parse("123456789012345678901234567890"),
            Value::Int("123456789012345678901234567890")
        );
    }

    #[test]
    fn integer_digit_limit_matches_python() {
        let limit = "7".repeat(4300);
        assert_eq!(parse(&limit), Value::Int(&limit));
        let negative = format!("-{limit}");
        assert_eq!(parse(&negative), Value::Int(&negative));
        let over = "7".repeat(4301);
        let err = parse_err(over.as_bytes());
        assert_eq!(err.column, 1);
        assert!(err.message.contains("4300 digits"), "{err}");
        // Python's limit is for int conversion only; long floats are fine.
        assert_eq!(float(&format!("{}.5", "1".repeat(5000))), f64::INFINITY);
    }

    #[test]
    fn floats_are_correctly_rounded() {
        assert_eq!(float("1.0"), 1.0);
        assert_eq!(float("1e2"), 100.0);
        assert_eq!(float("1E+2"), 100.0);
        assert_eq!(float("2.5e-10"), 2.5e-10);
        assert_eq!(float("0.1"), 0.1);
        assert_eq!(float("31.537499999999994"), 2.2615 * 25.0 - 25.0);
        assert_eq!(float("5e-324"), f64::from_bits(1));
        assert_eq!(float("4.9406564584124654e-324"), f64::from_bits(1));
        assert_eq!(float("2.2250738585072011e-308"), 2.225073858507201e-308);
        assert_eq!(float("1.7976931348623157e308"), f64::MAX);
        assert_eq!(float("1e400"), f64::INFINITY);
        assert_eq!(float("-1e400"), f64::NEG_INFINITY);
        let negative_zero = float("-0.0");
        assert_eq!(negative_zero, 0.0);
        assert!(negative_zero.is_sign_negative());
        assert_eq!(float("0e0"), 0.0);
    }

    #[test]
    fn strings_without_escapes_borrow() {
        for text in [
            r#""""#,
            r#""plain""#,
            "\"ü😀 \u{7f}x\"",
            r#""a longer string past eight bytes""#,
        ] {
            let s = string(text);
            assert!(matches!(s, Cow::Borrowed(_)), "{text:?}");
            assert_eq!(s, &text[1..text.len() - 1]);
        }
    }

    #[test]
    fn string_escapes() {
        let s = string(r#""\"\\\/\b\f\n\r\t""#);
        assert!(matches!(s, Cow::Owned(_)));
        assert_eq!(s, "\"\\/\u{8}\u{c}\n\r\t");
        assert_eq!(string(r#""\u00e9\u00E9\u20AC\u0000""#), "éé€\0");
        assert_eq!(string(r#""x\ud83d\ude00y""#), "x😀y");
        assert_eq!(string(r#""\uD83D\uDE00""#), "😀");
        assert_eq!(string(r#""\udbff\udfff""#), "\u{10ffff}");
        assert_eq!(string(r#""ab\ncd ü""#), "ab\ncd ü");
    }

    #[test]
    fn special_bytes_found_at_every_offset() {
        // The scanner works eight bytes at a time, so place each terminator at every alignment.
        for offset in 0..20 {
            let pad = "a".repeat(offset);
            assert_eq!(string(&format!("\"{pad}\"")), pad.as_str());
            assert_eq!(
                string(&format!("\"{pad}\\n{pad}\"")),
                format!("{pad}\n{pad}")
            );
            let err = parse_err(format!("\"{pad}\u{1f}\"").as_bytes());
            assert_eq!(err.column, offset + 2);
            assert_eq!(err.message, "Invalid control character");
            let err = parse_err(format!("\"{pad}").as_bytes());
            assert_eq!(err.column, 1);
            assert_eq!(err.message, "Unterminated string starting");
        }
        // Bytes >= 0x80 must not be mistaken for control characters.
        assert_eq!(string("\"ééééééééé\u{1F600}\""), "ééééééééé😀");
    }

    #[test]
    fn lone_surrogates_are_rejected() {
        for (text, column) in [
            (r#""\ud800""#, 2),
            (r#""\udc00""#, 2),
            (r#""ab\ud83d""#, 4),
            (r#""\ud800\u0041""#, 2),
            (r#""\ud800x""#, 2),
            (r#""\ude00\ud83d""#, 2),
        ] {
            let err = parse_err(text.as_bytes());
            assert_eq!(err.column, column, "{text}");
            assert!(err.message.contains("surrogate"), "{text}: {err}");
        }
    }

    #[test]
    fn raw_control_characters_are_rejected_but_del_is_not() {
        let err = parse_err(b"\"a\tb\"");
        assert_eq!(
            (err.column, err.message.as_str()),
            (3, "Invalid control character")
        );
        let err = parse_err(b"\"\x00\"");
        assert_eq!(err.column, 2);
        assert_eq!(string("\"\u{7f}\""), "\u{7f}");
    }

    #[test]
    fn invalid_utf8_is_rejected_with_its_column() {
        for (bytes, column) in [
            (&b"\"ab\xff\""[..], 4),
            (b"{\"a\":\"\xc3\"}", 7),
            (b"\"\xc0\xaf\"", 2),
            (b"\"\xed\xa0\x80\"", 2),
            (b"\"\xe2\x82", 2),
        ] {
            let err = parse_err(bytes);
            assert!(err.message.contains("UTF-8"), "{err}");
            assert_eq!(err.column, column, "{bytes:?}");
        }
        // A BOM is valid UTF-8 but not a JSON token, so it fails like in Python.
        let err = parse_err(b"\xef\xbb\xbf{}");
        assert_eq!((err.column, err.message.as_str()), (1, "Expecting value"));
    }

    #[test]
    fn whitespace_rules() {
        assert_eq!(parse(" \t\r\n{} \r"), Value::Object(Vec::new()));
        assert_eq!(
            parse("[ 1 , 2 ]\r"),
            Value::Array(vec![Value::Int("1"), Value::Int("2")])
        );
        assert_eq!(
            parse("{ \"a\" : [ ] }"),
            Value::Object(vec![(borrowed("a"), Value::Array(Vec::new()))])
        );
    }

    #[test]
    fn syntax_errors_match_python() {
        // (input, Python's JSONDecodeError colno, msg without Python's trailing " at").
        let cases: &[(&str, usize, &str)] = &[
            ("-NaN", 1, "Expecting value"),
            ("+1", 1, "Expecting value"),
            ("01", 2, "Extra data"),
            (".5", 1, "Expecting value"),
            ("1.", 2, "Extra data"),
            ("1e", 2, "Extra data"),
            ("1e+", 2, "Extra data"),
            ("0x1F", 2, "Extra data"),
            ("'a'", 1, "Expecting value"),
            ("[1,]", 4, "Expecting value"),
            (
                "{\"a\":1,}",
                8,
                "Expecting property name enclosed in double quotes",
            ),
            ("[1]//c", 4, "Extra data"),
            ("{\"a\" 1}", 6, "Expecting ':' delimiter"),
            ("{\"a\":1 \"b\":2}", 8, "Expecting ',' delimiter"),
            ("nul", 1, "Expecting value"),
            ("", 1, "Expecting value"),
            ("   ", 4, "Expecting value"),
            ("\r", 2, "Expecting value"),
            ("[", 2, "Expecting value"),
            ("{", 2, "Expecting property name enclosed in double quotes"),
            ("\"abc", 1, "Unterminated string starting"),
            ("\"\\", 1, "Unterminated string starting"),
            ("\"\\x\"", 2, "Invalid \\escape"),
            ("\"\\u12\"", 3, "Invalid \\uXXXX escape"),
            ("\"\\u12\"x", 3, "Invalid \\uXXXX escape"),
            ("\"\\ud83d\\u12\"", 9, "Invalid \\uXXXX escape"),
            ("\"\u{1f}\"", 2, "Invalid control character"),
            ("-Inf", 1, "Expecting value"),
            ("-", 1, "Expecting value"),
            ("[1 2]", 4, "Expecting ',' delimiter"),
            ("{\"a\":}", 6, "Expecting value"),
            (
                "{a:1}",
                2,
                "Expecting property name enclosed in double quotes",
            ),
            ("{\"a\":1", 7, "Expecting ',' delimiter"),
            ("[1", 3, "Expecting ',' delimiter"),
            ("true false", 6, "Extra data"),
            ("\u{c}1", 1, "Expecting value"),
            ("\u{a0}1", 1, "Expecting value"),
            ("1 /", 3, "Extra data"),
            ("[,1]", 2, "Expecting value"),
            (
                "{,}",
                2,
                "Expecting property name enclosed in double quotes",
            ),
            ("Infinityx", 9, "Extra data"),
            ("NaN1", 4, "Extra data"),
            ("[-]", 2, "Expecting value"),
            ("{\"a\":1}}", 8, "Extra data"),
            ("tRUE", 1, "Expecting value"),
        ];
        for &(text, column, message) in cases {
            let err = parse_err(text.as_bytes());
            assert_eq!(
                (err.column, err.message.as_str()),
                (column, message),
                "{text:?}"
            );
        }
    }

    #[test]
    fn error_display() {
        let err = parse_err(b"[1, ?]");
        assert_eq!(err.to_string(), "Expecting value at column 5");
        let boxed: Box<dyn std::error::Error> = Box::new(err);
        assert_eq!(boxed.to_string(), "Expecting value at column 5");
    }

    #[test]
    fn repeated_keys_keep_first_position_and_last_value() {
        assert_eq!(
            parse(r#"{"a":1,"a":2,"b":3,"a":4}"#),
            Value::Object(vec![
                (borrowed("a"), Value::Int("4")),
                (borrowed("b"), Value::Int("3"))
            ])
        );
        assert_eq!(
            parse(r#"{"b":1,"a":2,"b":[3]}"#),
            Value::Object(vec![
                (borrowed("b"), Value::Array(vec![Value::Int("3")])),
                (borrowed("a"), Value::Int("2")),
            ])
        );
        // An escaped key equals its plain spelling, as in Python.
        let v = parse(r#"{"A":1,"\u0041":2}"#);
        assert_eq!(v, Value::Object(vec![(borrowed("A"), Value::Int("2"))]));
        assert_eq!(v.get("A"), Some(&Value::Int("2")));
    }

    #[test]
    fn repeated_keys_in_large_objects() {
        // 45 members over 30 distinct keys takes the sorting path; order from Python's dict.
        let members: Vec<String> = (0..45).map(|i| format!("\"k{:02}\":{i}", i % 30)).collect();
        let text = format!("{{{}}}", members.join(","));
        let Value::Object(parsed) = parse(&text) else {
            panic!("object expected");
        };
        let got: Vec<(String, String)> = parsed
            .iter()
            .map(|(k, v)| match v {
                Value::Int(t) => (k.to_string(), t.to_string()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        let expected: Vec<(String, String)> = (0..30)
            .map(|i| {
                (
                    format!("k{i:02}"),
                    (if i < 15 { i + 30 } else { i }).to_string(),
                )
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn get_and_type_name() {
        let v = parse(r#"{"n":null,"b":true,"i":1,"f":1.5,"s":"x","l":[],"d":{}}"#);
        let names: Vec<&str> = ["n", "b", "i", "f", "s", "l", "d"]
            .iter()
            .map(|k| v.get(k).map_or("missing", Value::type_name))
            .collect();
        assert_eq!(
            names,
            ["NoneType", "bool", "int", "float", "str", "list", "dict"]
        );
        assert_eq!(v.type_name(), "dict");
        assert_eq!(v.get("missing"), None);
        assert_eq!(parse("[1]").get("0"), None);
        assert_eq!(parse("\"n\"").get("n"), None);
    }

    #[test]
    fn nesting_limit() {
        let ok = format!("{}{}", "[".repeat(256), "]".repeat(256));
        assert!(parse_line(ok.as_bytes()).is_ok());
        let too_deep = format!("{}{}", "[".repeat(257), "]".repeat(257));
        let err = parse_err(too_deep.as_bytes());
        assert_eq!(err.column, 257);
        assert!(err.message.contains("256"), "{err}");
        let mixed_ok = format!("{}1{}", "{\"a\":[".repeat(128), "]}".repeat(128));
        assert!(parse_line(mixed_ok.as_bytes()).is_ok());
        let mixed_deep = format!("{}1{}", "[{\"a\":".repeat(129), "}]".repeat(129));
        assert!(parse_line(mixed_deep.as_bytes()).is_err());
        // Hostile depth must fail cleanly rather than overflow the stack.
        assert!(parse_line("[".repeat(1_000_000).as_bytes()).is_err());
        assert!(parse_line("{\"a\":".repeat(200_000).as_bytes()).is_err());
    }

    #[test]
    fn nested_structure() {
        assert_eq!(
            parse(r#"{"a":[1,{"b":"c\n"},[]],"d":{}}"#),
            Value::Object(vec![
                (
                    borrowed("a"),
                    Value::Array(vec![
                        Value::Int("1"),
                        Value::Object(vec![(borrowed("b"), Value::Str(Cow::Owned("c\n".into())))]),
                        Value::Array(Vec::new()),
                    ])
                ),
                (borrowed("d"), Value::Object(Vec::new())),
            ])
        );
    }

    const SAMPLE: &str = r#" {"frame":12,"vmaf":31.537499999999994,"name":"clip_\u00fc\ud83d\ude00","ok":true,"x":null,"l":[-0,1e-7,NaN,-Infinity,{"k":"v"}],"big":123456789012345678901234567890}"#;

    #[test]
    fn truncated_prefixes_fail_without_panicking() {
        assert!(parse_line(SAMPLE.as_bytes()).is_ok());
        for end in 0..SAMPLE.len() {
            assert!(
                parse_line(&SAMPLE.as_bytes()[..end]).is_err(),
                "prefix {end}"
            );
        }
    }

    #[test]
    fn mutated_input_never_panics() {
        // Deterministic xorshift so failures reproduce; only absence of panics is checked.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let interesting = b"\"\\{}[]:,-+.eE0123456789uU \t\r\nNIaf\x00\x1f\x7f\x80\xc3\xed\xf0\xff";
        for _ in 0..20_000 {
            let mut bytes = SAMPLE.as_bytes().to_vec();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % (bytes.len() + 1);
                let byte = interesting[(next() as usize) % interesting.len()];
                match next() % 3 {
                    0 => bytes.insert(at, byte),
                    1 if at < bytes.len() => bytes[at] = byte,
                    _ if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => {}
                }
            }
            records_agree_with_lines(&bytes);
        }
        for _ in 0..5_000 {
            let len = (next() % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| interesting[(next() as usize) % interesting.len()])
                .collect();
            records_agree_with_lines(&bytes);
        }
    }

    /// The keys `records_agree_with_lines` asks `parse_record` for.
    const WANTED: [&str; 3] = ["frame", "name", "l"];

    /// `parse_record` takes and refuses exactly the lines `parse_line` does, with the same
    /// error, and finds in an object the value `Value::get` finds.
    fn records_agree_with_lines(bytes: &[u8]) {
        let slot_of = |key: &str| WANTED.iter().position(|w| *w == key);
        match (parse_line(bytes), parse_record::<3>(bytes, slot_of)) {
            (Err(line), Err(record)) => assert_eq!(line, record, "{bytes:?}"),
            (Ok(value @ Value::Object(_)), Ok(Record::Object(slots))) => {
                // Compared as text: NaN is not equal to itself.
                for (key, slot) in WANTED.iter().zip(&slots) {
                    let (found, kept) = (value.get(key), slot.as_ref());
                    assert_eq!(
                        format!("{found:?}"),
                        format!("{kept:?}"),
                        "{key} in {bytes:?}"
                    );
                }
            }
            (Ok(value), Ok(Record::Other(other))) => {
                assert!(!matches!(value, Value::Object(_)), "{bytes:?}");
                assert_eq!(format!("{value:?}"), format!("{other:?}"), "{bytes:?}");
            }
            (line, record) => panic!("{bytes:?}: {line:?} against {record:?}"),
        }
    }

    #[test]
    fn records_keep_the_wanted_members_with_their_last_value() {
        let slot_of = |key: &str| WANTED.iter().position(|w| *w == key);
        records_agree_with_lines(SAMPLE.as_bytes());
        let line = br#"{"l": 1, "frame": 2, "other": {"frame": 3}, "l": [4], "name": "\u00e9"}"#;
        let Ok(Record::Object(slots)) = parse_record::<3>(line, slot_of) else {
            panic!("an object");
        };
        assert_eq!(
            slots,
            [
                Some(Value::Int("2")),
                Some(Value::Str(Cow::Owned("\u{e9}".to_owned()))),
                Some(Value::Array(vec![Value::Int("4")])),
            ]
        );
        let Ok(Record::Object(slots)) = parse_record::<3>(br#"{"frame": 1}"#, slot_of) else {
            panic!("an object");
        };
        assert_eq!(slots, [Some(Value::Int("1")), None, None]);
        assert_eq!(
            parse_record::<3>(b" [1] ", slot_of),
            Ok(Record::Other(Value::Array(vec![Value::Int("1")])))
        );
        // Members the caller does not read are still checked.
        assert_eq!(
            parse_record::<3>(br#"{"frame": 1, "x": [1,]}"#, slot_of),
            Err(ParseError::at(21, "Expecting value"))
        );
        for end in 0..SAMPLE.len() {
            records_agree_with_lines(&SAMPLE.as_bytes()[..end]);
        }
    }

    #[test]
    fn only_values_that_own_memory_are_dropped_on_release() {
        let line = br#"{"a": "plain", "b": "esc\u00e9", "c": [1, "x"], "d": {"e": 2}, "f": 1.5}"#;
        let Ok(Record::Object(slots)) = parse_record::<5>(line, |k| {
            ["a", "b", "c", "d", "f"].iter().position(|&n| n == k)
        }) else {
            panic!("an object");
        };
        let owns: Vec<bool> = slots.iter().flatten().map(Value::owns_memory).collect();
        // A plain string and a number borrow or hold nothing; the escaped string, the
        // list and the object are the parser's own allocations.
        assert_eq!(owns, [false, true, true, true, false]);
        // Releasing frees the owned ones and forgets the rest, a record of any kind.
        Record::Object(slots).release();
        Record::<'_, 1>::Other(Value::Array(vec![Value::Str(Cow::Owned("x".into()))])).release();
    }
}
