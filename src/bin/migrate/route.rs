//! oauth2-proxy's route regexes (`skip_auth_routes`, `api_routes`) as the filter's path
//! patterns. A regex sees one reading of the path; a rule matches every reading (README, *How
//! it decides*, 3), so only regexes that are a prefix, an exact path or a glob carry over. For
//! the rest a close pattern is suggested when there is one.

/// A rule's path key and value: `("path_prefix", "/dex")`.
pub type PathKey = (&'static str, String);

#[derive(Debug, PartialEq, Eq)]
pub enum Translation {
    /// Matches what the regex matches (a trailing `/` also covers the path without it:
    /// `^/dex/` is `/dex` and everything under it).
    Same(PathKey),
    /// Close, not the same: the pattern and how it differs.
    Close(PathKey, String),
    /// Nothing close: why.
    No(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Lit(char),
    /// `[^/]*`: any run within a segment.
    InSegment,
    /// `.*`: any run, across segments too.
    Any,
}

/// The regex as tokens, with what the tokens lose of it.
struct Parsed {
    anchored_start: bool,
    anchored_end: bool,
    tokens: Vec<Token>,
    differences: Vec<String>,
}

pub fn translate(regex: &str) -> Translation {
    let mut parsed = match parse(regex) {
        Ok(parsed) => parsed,
        Err(why) => return Translation::No(why),
    };
    open_ends(&mut parsed);
    if parsed.tokens.is_empty() {
        return Translation::No("it matches every path".to_string());
    }
    let glob = match glob_of(&mut parsed) {
        Ok(glob) => glob,
        Err(why) => return Translation::No(why),
    };
    let key = simplest(&glob);
    if key.1 == "/" && key.0 == "path_prefix" {
        return Translation::No("it matches every path".to_string());
    }
    if parsed.differences.is_empty() {
        Translation::Same(key)
    } else {
        Translation::Close(key, parsed.differences.join("; "))
    }
}

fn parse(regex: &str) -> Result<Parsed, String> {
    let mut chars = regex.chars().peekable();
    let anchored_start = chars.next_if_eq(&'^').is_some();
    let mut parsed = Parsed {
        anchored_start,
        anchored_end: false,
        tokens: Vec::new(),
        differences: Vec::new(),
    };
    while let Some(c) = chars.next() {
        let token = match c {
            '$' if chars.peek().is_none() => {
                parsed.anchored_end = true;
                continue;
            }
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => Token::Lit(e),
                other => return Err(unsupported(&format!("\\{}", other.unwrap_or(' ')))),
            },
            '.' => match chars.next_if(|n| *n == '*' || *n == '+') {
                Some(q) => repeated(&mut parsed, Token::Any, q, ".+"),
                None => {
                    parsed
                        .differences
                        .push("an unescaped '.' matches any character; read as '.'".into());
                    Token::Lit('.')
                }
            },
            '[' => {
                let class: String = chars.by_ref().take_while(|&n| n != ']').collect();
                if class != "^/" {
                    return Err(unsupported(&format!("[{class}]")));
                }
                match chars.next_if(|n| *n == '*' || *n == '+') {
                    Some(q) => repeated(&mut parsed, Token::InSegment, q, "[^/]+"),
                    None => return Err(unsupported("[^/] without * or +")),
                }
            }
            '(' | ')' | '|' | '?' | '*' | '+' | '{' | '}' | '^' | '$' => {
                return Err(unsupported(&c.to_string()))
            }
            _ => Token::Lit(c),
        };
        parsed.tokens.push(token);
    }
    Ok(parsed)
}

/// `X+` is read as `X*`, noted.
fn repeated(parsed: &mut Parsed, token: Token, quantifier: char, spelled: &str) -> Token {
    if quantifier == '+' {
        parsed.differences.push(format!(
            "'{spelled}' needs at least one character; read as '*'"
        ));
    }
    token
}

fn unsupported(what: &str) -> String {
    format!(
        "{what:?} has no path-pattern equivalent (a rule has a prefix, an exact path or a glob)"
    )
}

/// A leading or trailing `.*` is the same as no anchor there.
fn open_ends(parsed: &mut Parsed) {
    while parsed.tokens.first() == Some(&Token::Any) {
        parsed.tokens.remove(0);
        parsed.anchored_start = false;
    }
    while parsed.tokens.last() == Some(&Token::Any) {
        parsed.tokens.pop();
        parsed.anchored_end = false;
    }
}

/// The glob matching the same paths: `**` for whole segments, `*` within one.
fn glob_of(parsed: &mut Parsed) -> Result<String, String> {
    let starts_at_slash = parsed.tokens.first() == Some(&Token::Lit('/'));
    let mut glob = match (parsed.anchored_start, starts_at_slash) {
        (true, true) => String::new(),
        (true, false) => return Err("anchored before something other than '/': no path".into()),
        (false, true) => "/**".to_string(),
        (false, false) => "/**/*".to_string(),
    };
    let tokens = parsed.tokens.clone();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Lit('*') => return Err(unsupported("\\*")),
            Token::Lit(c) => glob.push(*c),
            Token::InSegment => glob.push('*'),
            Token::Any if glob.ends_with('/') && tokens.get(i + 1) == Some(&Token::Lit('/')) => {
                glob.push_str("**")
            }
            Token::Any => {
                parsed
                    .differences
                    .push("'.*' inside a segment also crosses '/'; read as '*'".into());
                glob.push('*');
            }
        }
    }
    if !parsed.anchored_end && !glob.ends_with("**") {
        glob.push_str(if glob.ends_with('/') { "**" } else { "*/**" });
    }
    Ok(glob)
}

/// The plainest key for a glob: an exact path, a prefix, or the glob itself.
fn simplest(glob: &str) -> PathKey {
    if !glob.contains('*') {
        return ("path_exact", glob.to_string());
    }
    match glob.strip_suffix("/**") {
        Some(head) if !head.contains('*') => (
            "path_prefix",
            if head.is_empty() { "/" } else { head }.to_string(),
        ),
        _ => ("path_glob", glob.to_string()),
    }
}

#[cfg(test)]
mod tests;
