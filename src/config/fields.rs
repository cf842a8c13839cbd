//! Reading a JSON object key by key, so that every error names the key's path
//! (`extra_issuers[1].audiences: ...`) and unknown keys are refused with a "did you mean" hint.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{error, ConfigError};

/// A value given as a string or as an object.
pub(super) enum StrOrObject {
    Str(String),
    Object(Fields),
}

/// A JSON object being taken apart, key by key, with errors that carry the key's path.
pub(super) struct Fields {
    map: Map<String, Value>,
    /// Path of this object inside the configuration, e.g. `extra_issuers[0].`.
    prefix: String,
}

/// An error for each key of `map` outside `known`, with a "did you mean" hint where one is close.
pub(super) fn unknown_keys(
    map: &Map<String, Value>,
    prefix: &str,
    known: &[&str],
) -> Vec<ConfigError> {
    let unknown = map.keys().filter(|k| !known.contains(&k.as_str()));
    unknown
        .map(|key| {
            let reason = match closest(key, known) {
                Some(guess) => format!("unknown key (did you mean {guess:?}?)"),
                None => "unknown key".to_string(),
            };
            error(format!("{prefix}{key}"), reason)
        })
        .collect()
}

impl Fields {
    /// Starts reading an object, refusing keys outside `known` first so that a typo is
    /// reported as itself rather than as the required key it was meant to be.
    pub(super) fn new(
        map: Map<String, Value>,
        prefix: &str,
        known: &[&str],
    ) -> Result<Self, ConfigError> {
        if let Some(unknown) = unknown_keys(&map, prefix, known).into_iter().next() {
            return Err(unknown);
        }
        Ok(Fields {
            map,
            prefix: prefix.to_string(),
        })
    }

    pub(super) fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Takes a key; JSON `null` counts as absent.
    fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    pub(super) fn optional_str(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(error(
                self.path(key),
                format!("must be a string, got {}", kind(&other)),
            )),
        }
    }

    pub(super) fn required_str(&mut self, key: &str) -> Result<String, ConfigError> {
        self.optional_str(key)?
            .ok_or_else(|| error(self.path(key), "required"))
    }

    pub(super) fn str_or(&mut self, key: &str, default: &str) -> Result<String, ConfigError> {
        Ok(self
            .optional_str(key)?
            .unwrap_or_else(|| default.to_string()))
    }

    pub(super) fn bool_or(&mut self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.take(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(b),
            Some(other) => Err(error(
                self.path(key),
                format!("must be true or false, got {}", kind(&other)),
            )),
        }
    }

    /// An integer in range. Istio hands YAML numbers over as JSON doubles, so `600.0` is 600.
    pub(super) fn u64_in(
        &mut self,
        key: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        let value = match self.take(key) {
            None => return Ok(default),
            Some(Value::Number(n)) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 1e15)
                    .map(|f| f as u64)
            }),
            Some(_) => None,
        };
        match value {
            Some(v) if range.contains(&v) => Ok(v),
            _ => Err(error(
                self.path(key),
                format!(
                    "must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }

    pub(super) fn optional_string_list(
        &mut self,
        key: &str,
    ) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(value) = self.take(key) else {
            return Ok(None);
        };
        let Value::Array(items) = value else {
            return Err(error(
                self.path(key),
                format!("must be a list of strings, got {}", kind(&value)),
            ));
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s),
                other => Err(error(
                    format!("{}[{i}]", self.path(key)),
                    format!("must be a string, got {}", kind(&other)),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A string, or a list of strings; `None` when absent.
    pub(super) fn optional_str_or_list(
        &mut self,
        key: &str,
    ) -> Result<Option<Vec<String>>, ConfigError> {
        match self.map.get(key) {
            Some(Value::String(_)) => Ok(self.optional_str(key)?.map(|s| vec![s])),
            _ => self
                .optional_string_list(key)
                .map_err(|e| error(e.field, "must be a string or a list of strings".to_string())),
        }
    }

    /// A list of any JSON values; `None` when absent.
    pub(super) fn optional_value_list(
        &mut self,
        key: &str,
    ) -> Result<Option<Vec<Value>>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(error(
                self.path(key),
                format!("must be a list, got {}", kind(&other)),
            )),
        }
    }

    pub(super) fn string_list_or(
        &mut self,
        key: &str,
        default: Vec<String>,
    ) -> Result<Vec<String>, ConfigError> {
        Ok(self.optional_string_list(key)?.unwrap_or(default))
    }

    pub(super) fn required_string_list(&mut self, key: &str) -> Result<Vec<String>, ConfigError> {
        self.optional_string_list(key)?
            .ok_or_else(|| error(self.path(key), "required"))
    }

    pub(super) fn string_map(
        &mut self,
        key: &str,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let Some(value) = self.take(key) else {
            return Ok(BTreeMap::new());
        };
        let Value::Object(map) = value else {
            return Err(error(
                self.path(key),
                format!("must be an object of host -> cluster, got {}", kind(&value)),
            ));
        };
        // Inserted one by one: collecting into a BTreeMap sorts the pairs first, and that sort
        // instantiation is ~5 KB of the module. A later duplicate wins either way.
        let mut clusters = BTreeMap::new();
        for (host, cluster) in map {
            match cluster {
                Value::String(c) if !c.is_empty() => clusters.insert(host.to_ascii_lowercase(), c),
                _ => {
                    return Err(error(
                        format!("{}.{host}", self.path(key)),
                        "must be a non-empty cluster name",
                    ))
                }
            };
        }
        Ok(clusters)
    }

    /// An object whose values are strings or lists of strings (one string: a list of one).
    pub(super) fn string_list_map(
        &mut self,
        key: &str,
    ) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
        let Some(value) = self.take(key) else {
            return Ok(Vec::new());
        };
        let Value::Object(map) = value else {
            return Err(error(
                self.path(key),
                format!("must be an object, got {}", kind(&value)),
            ));
        };
        map.into_iter()
            .map(|(name, value)| {
                let strings = match value {
                    Value::String(s) => Some(vec![s]),
                    Value::Array(items) => items
                        .into_iter()
                        .map(|i| i.as_str().map(str::to_string))
                        .collect(),
                    _ => None,
                };
                match strings {
                    Some(list) if !list.is_empty() => Ok((name, list)),
                    _ => Err(error(
                        format!("{}.{name}", self.path(key)),
                        "must be a string or a non-empty list of strings",
                    )),
                }
            })
            .collect()
    }

    /// An object read key by key; `None` when absent.
    pub(super) fn optional_object(
        &mut self,
        key: &str,
        known: &[&str],
    ) -> Result<Option<Fields>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Object(map)) => {
                Fields::new(map, &format!("{}.", self.path(key)), known).map(Some)
            }
            Some(other) => Err(error(
                self.path(key),
                format!("must be an object, got {}", kind(&other)),
            )),
        }
    }

    /// A string (a shorthand) or an object read key by key; `None` when absent.
    pub(super) fn optional_str_or_object(
        &mut self,
        key: &str,
        known: &[&str],
    ) -> Result<Option<StrOrObject>, ConfigError> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(StrOrObject::Str(s))),
            Some(Value::Object(map)) => {
                let fields = Fields::new(map, &format!("{}.", self.path(key)), known)?;
                Ok(Some(StrOrObject::Object(fields)))
            }
            Some(other) => Err(error(
                self.path(key),
                format!("must be a string or an object, got {}", kind(&other)),
            )),
        }
    }

    pub(super) fn object_list(
        &mut self,
        key: &str,
        known: &[&str],
    ) -> Result<Vec<Fields>, ConfigError> {
        let Some(value) = self.take(key) else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = value else {
            return Err(error(
                self.path(key),
                format!("must be a list of objects, got {}", kind(&value)),
            ));
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("{}[{i}]", self.path(key));
                match item {
                    Value::Object(map) => Fields::new(map, &format!("{path}."), known),
                    other => Err(error(
                        path,
                        format!("must be an object, got {}", kind(&other)),
                    )),
                }
            })
            .collect()
    }
}

/// The known key within edit distance 2 of `key`, for "did you mean" hints.
fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (edit_distance(key, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
