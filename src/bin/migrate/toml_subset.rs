//! The part of TOML that oauth2-proxy configuration files use: `key = value` lines whose value
//! is a string (basic or literal), a boolean, an integer, or an array of those, arrays over
//! several lines with comments and a trailing comma. Anything else (tables, multi-line strings,
//! floats, dates) is refused with its line number, never guessed at.

/// A setting's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Bool(bool),
    Int(i64),
    List(Vec<Value>),
}

impl Value {
    /// The value as oauth2-proxy's flags would spell it.
    pub fn text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::List(items) => items.iter().map(Value::text).collect::<Vec<_>>().join(","),
        }
    }

    /// A list's items as text; a single value is a list of one.
    pub fn items(&self) -> Vec<String> {
        match self {
            Value::List(items) => items.iter().map(Value::text).collect(),
            other => vec![other.text()],
        }
    }
}

/// The settings in file order: `(key, value)`.
pub fn parse(text: &str) -> Result<Vec<(String, Value)>, String> {
    let mut reader = Reader {
        chars: text.chars().collect(),
        at: 0,
        line: 1,
    };
    let mut settings = Vec::new();
    loop {
        reader.skip_blank(true);
        let Some(c) = reader.peek() else {
            return Ok(settings);
        };
        if c == '[' {
            return Err(reader.error("tables are not oauth2-proxy settings"));
        }
        let key = reader.key()?;
        reader.skip_blank(false);
        if reader.bump() != Some('=') {
            return Err(reader.error(&format!("expected '=' after {key}")));
        }
        reader.skip_blank(false);
        let value = reader.value()?;
        reader.skip_blank(false);
        if !matches!(reader.peek(), None | Some('\n')) {
            return Err(reader.error("expected the end of the line"));
        }
        settings.push((key, value));
    }
}

struct Reader {
    chars: Vec<char>,
    at: usize,
    line: usize,
}

impl Reader {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn error(&self, what: &str) -> String {
        format!("line {}: {what}", self.line)
    }

    /// Skips spaces and comments, and newlines too when `newlines`.
    fn skip_blank(&mut self, newlines: bool) {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' => {}
                '\n' if newlines => {}
                '#' => {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.bump();
                    }
                    continue;
                }
                _ => return,
            }
            self.bump();
        }
    }

    fn key(&mut self) -> Result<String, String> {
        if self.peek() == Some('"') {
            return self.basic_string();
        }
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            self.bump();
        }
        if start == self.at {
            return Err(self.error("expected a setting name"));
        }
        Ok(self.chars[start..self.at].iter().collect())
    }

    fn value(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some('"') => self.basic_string().map(Value::Str),
            Some('\'') => self.literal_string().map(Value::Str),
            Some('[') => self.array(),
            _ => self.scalar(),
        }
    }

    fn array(&mut self) -> Result<Value, String> {
        self.bump();
        let mut items = Vec::new();
        loop {
            self.skip_blank(true);
            if self.peek() == Some(']') {
                self.bump();
                return Ok(Value::List(items));
            }
            items.push(self.value()?);
            self.skip_blank(true);
            match self.bump() {
                Some(',') => {}
                Some(']') => return Ok(Value::List(items)),
                _ => return Err(self.error("expected ',' or ']' in the list")),
            }
        }
    }

    /// `true`, `false` or an integer.
    fn scalar(&mut self) -> Result<Value, String> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.' | ':'))
        {
            self.bump();
        }
        let word: String = self.chars[start..self.at].iter().collect();
        match word.as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => {
                word.replace('_', "").parse().map(Value::Int).map_err(|_| {
                    self.error(&format!("{word:?} is not a string, boolean or integer"))
                })
            }
        }
    }

    /// Refuses `"""` and `'''` strings, which may span lines.
    fn single_line(&self, quote: char) -> Result<(), String> {
        if self.chars.get(self.at..self.at + 3) == Some(&[quote; 3]) {
            return Err(self.error("multi-line strings are not supported"));
        }
        Ok(())
    }

    fn literal_string(&mut self) -> Result<String, String> {
        self.string('\'', false)
    }

    fn basic_string(&mut self) -> Result<String, String> {
        self.string('"', true)
    }

    /// A one-line string between `quote`s; `escapes`: `\` starts an escape (basic strings).
    fn string(&mut self, quote: char, escapes: bool) -> Result<String, String> {
        self.single_line(quote)?;
        self.bump();
        let mut out = String::new();
        loop {
            // Checked before bumping, so that the error names the string's own line.
            if matches!(self.peek(), Some('\n') | None) {
                return Err(self.error("unterminated string"));
            }
            match self.bump() {
                Some(c) if c == quote => return Ok(out),
                Some('\\') if escapes => out.push(self.escape()?),
                Some(c) => out.push(c),
                None => return Err(self.error("unterminated string")),
            }
        }
    }

    fn escape(&mut self) -> Result<char, String> {
        let simple = match self.bump() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('n') => '\n',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('e') => '\u{1b}',
            Some('u') => return self.unicode(4),
            Some('U') => return self.unicode(8),
            other => return Err(self.error(&format!("unknown escape \\{}", other.unwrap_or(' ')))),
        };
        Ok(simple)
    }

    fn unicode(&mut self, digits: usize) -> Result<char, String> {
        let hex: String = (0..digits).filter_map(|_| self.bump()).collect();
        u32::from_str_radix(&hex, 16)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| self.error(&format!("bad unicode escape {hex:?}")))
    }
}

#[cfg(test)]
mod tests;
