//! The `rules`: which requests are authenticated (and with what extra requirements), which
//! pass without identity, and which are refused, by host, path and method. The first rule
//! that matches wins; no match means authenticate.
//!
//! Paths are matched on their [`paths::readings`], the ways upstreams resolve them. Each
//! reading picks its own first rule, and the request must satisfy every rule picked: any
//! `deny` refuses it, it passes without identity only when every reading picks an `allow`,
//! and otherwise it is authenticated under the requirements of every `authenticate` rule
//! picked. A path the readings cannot settle could be any path, so every rule whose host and
//! method match may apply to it, up to the first rule without a path pattern.

use crate::core::claims::Grants;
use crate::core::decide::Request;
use crate::core::paths;

/// A host pattern: exact, or `*.suffix` for any name under the suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Exact(String),
    /// Stored with its leading dot: `.example.com`.
    Subdomains(String),
}

/// A path pattern, matched on resolved paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPattern {
    /// The path itself or anything under it, segment by segment.
    Prefix(String),
    Exact(String),
    /// Segments; `**` matches any number of whole segments, `*` any run within one.
    Glob(Vec<String>),
}

/// What happens to a request when no credential is found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unauthenticated {
    #[default]
    /// Browsers are sent to the IdP, anything else gets 401 (the navigation heuristic).
    Heuristic,
    Redirect,
    Refuse,
}

/// A claim that must hold one of the accepted values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequirement {
    /// Dotted path into the claims (`realm_access.roles`).
    pub claim: String,
    pub accepted: Vec<String>,
}

/// What an `authenticate` rule asks beyond a valid credential.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    pub groups_allowlist: Option<Vec<String>>,
    pub required_scopes: Vec<String>,
    pub required_claims: Vec<ClaimRequirement>,
    pub unauthenticated: Unauthenticated,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Authenticate(Requirements),
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Where it was configured (`rules[2]`, `skip_auth_paths[0]`), for logs and the checker.
    pub label: String,
    /// Empty: any host.
    pub hosts: Vec<HostPattern>,
    /// `None`: any path.
    pub path: Option<PathPattern>,
    /// Upper case; empty: any method.
    pub methods: Vec<String>,
    pub action: Action,
}

/// What the rules say of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy<'a> {
    /// Pass without identity (`rule` is the first allow picked).
    Allow { rule: usize },
    /// 403 (`rule` is the first deny picked).
    Deny { rule: usize },
    /// Authenticate; `rules` are the indexes of the `authenticate` rules picked, whose
    /// requirements all apply (none: no rule matched).
    Authenticate { rules: &'a [usize] },
}

/// The compiled rules of a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    pub rules: Vec<Rule>,
}

/// The rule indexes one request picked (scratch space: empty without rules, so free).
pub type Picked = Vec<usize>;

impl Rules {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The requirements of rule `index` when it is an `authenticate` rule.
    pub fn requirements(&self, index: usize) -> Option<&Requirements> {
        match &self.rules.get(index)?.action {
            Action::Authenticate(requirements) => Some(requirements),
            _ => None,
        }
    }

    /// The policy for `request`; `picked` is scratch space the answer borrows.
    pub fn evaluate<'a>(&self, request: &Request, picked: &'a mut Picked) -> Policy<'a> {
        picked.clear();
        if self.rules.is_empty() {
            return Policy::Authenticate { rules: picked };
        }
        let host = host_name(&request.authority);
        let method = request.method.as_slice();
        let candidates = |rule: &&Rule| rule.matches_host(&host) && rule.matches_method(method);
        let mut any_default = false;
        match paths::readings(&request.path) {
            Some(readings) => {
                for reading in &readings {
                    let first = self.rules.iter().enumerate().find(|(_, rule)| {
                        candidates(rule) && rule.path.as_ref().map_or(true, |p| p.matches(reading))
                    });
                    match first {
                        Some((index, _)) => insert_sorted(picked, index),
                        None => any_default = true,
                    }
                }
            }
            None => {
                for (index, rule) in self.rules.iter().enumerate() {
                    if candidates(&rule) {
                        picked.push(index); // in index order: stays sorted
                        if rule.path.is_none() {
                            break;
                        }
                    }
                }
                any_default = picked
                    .last()
                    .map_or(true, |&i| self.rules[i].path.is_some());
            }
        }
        self.combine(picked, any_default)
    }

    fn combine<'a>(&self, picked: &'a mut Picked, any_default: bool) -> Policy<'a> {
        let action = |i: &usize| &self.rules[*i].action;
        if let Some(&rule) = picked.iter().find(|i| *action(i) == Action::Deny) {
            return Policy::Deny { rule };
        }
        let all_allow = picked.iter().all(|i| *action(i) == Action::Allow);
        if all_allow && !any_default {
            if let Some(&rule) = picked.first() {
                return Policy::Allow { rule };
            }
        }
        picked.retain(|i| matches!(action(i), Action::Authenticate(_)));
        Policy::Authenticate { rules: picked }
    }
}

/// Why an authenticated request falls short of a rule it picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortfall {
    Group,
    Scope,
    Claim,
}

impl Rules {
    /// Every claim a rule names, which credentials must carry in their [`Grants`].
    pub fn claim_names(&self) -> Vec<&str> {
        let mut names = Vec::new();
        for requirements in (0..self.rules.len()).filter_map(|i| self.requirements(i)) {
            for required in &requirements.required_claims {
                insert_sorted(&mut names, required.claim.as_str());
            }
        }
        names
    }

    /// Checks an identity's groups and grants against every rule in `picked`.
    pub fn check(
        &self,
        picked: &[usize],
        groups: &[String],
        grants: &Grants,
    ) -> Result<(), Shortfall> {
        picked
            .iter()
            .filter_map(|&i| self.requirements(i))
            .try_for_each(|r| r.check(groups, grants))
    }

    /// How a request without a credential is answered: `401` in any rule picked beats
    /// `redirect`, which beats the navigation heuristic.
    pub fn unauthenticated(&self, picked: &[usize]) -> Unauthenticated {
        let modes = picked.iter().filter_map(|&i| self.requirements(i));
        modes.fold(Unauthenticated::Heuristic, |mode, r| {
            match (mode, r.unauthenticated) {
                (Unauthenticated::Refuse, _) | (_, Unauthenticated::Refuse) => {
                    Unauthenticated::Refuse
                }
                (Unauthenticated::Redirect, _) | (_, Unauthenticated::Redirect) => {
                    Unauthenticated::Redirect
                }
                _ => Unauthenticated::Heuristic,
            }
        })
    }
}

impl Requirements {
    fn check(&self, groups: &[String], grants: &Grants) -> Result<(), Shortfall> {
        if let Some(allowed) = &self.groups_allowlist {
            if !groups.iter().any(|g| allowed.contains(g)) {
                return Err(Shortfall::Group);
            }
        }
        if !self
            .required_scopes
            .iter()
            .all(|s| grants.scopes.contains(s))
        {
            return Err(Shortfall::Scope);
        }
        let claims_hold = self.required_claims.iter().all(|required| {
            let values = grants.claim(&required.claim);
            values.iter().any(|v| required.accepted.contains(v))
        });
        if !claims_hold {
            return Err(Shortfall::Claim);
        }
        Ok(())
    }
}

impl Policy<'_> {
    /// What the policy says, naming the rules: `deny (rules[0])`, `authenticate (no rule)`.
    pub fn describe(&self, rules: &Rules) -> String {
        let label = |i: &usize| rules.rules[*i].label.as_str();
        match self {
            Policy::Allow { rule } => format!("allow ({})", label(rule)),
            Policy::Deny { rule } => format!("deny ({})", label(rule)),
            Policy::Authenticate { rules: [] } => "authenticate (no rule)".to_string(),
            Policy::Authenticate { rules: picked } => {
                let labels: Vec<&str> = picked.iter().map(label).collect();
                format!("authenticate ({})", labels.join(" and "))
            }
        }
    }
}

impl Rule {
    /// An `allow` rule for a path prefix (a `skip_auth_paths` entry).
    pub fn allow_prefix(label: String, prefix: String) -> Rule {
        Rule {
            label,
            hosts: Vec::new(),
            path: Some(PathPattern::Prefix(prefix)),
            methods: Vec::new(),
            action: Action::Allow,
        }
    }

    fn matches_host(&self, host: &str) -> bool {
        self.hosts.is_empty() || self.hosts.iter().any(|pattern| pattern.matches(host))
    }

    /// Methods compare case-insensitively (some servers upper-case them), and a rule for `GET`
    /// also covers `HEAD`, which servers answer with their `GET` handler.
    fn matches_method(&self, method: &[u8]) -> bool {
        self.methods.is_empty()
            || self.methods.iter().any(|m| {
                method.eq_ignore_ascii_case(m.as_bytes())
                    || (m == "GET" && method.eq_ignore_ascii_case(b"HEAD"))
            })
    }
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Exact(name) => host == name,
            HostPattern::Subdomains(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
        }
    }
}

impl PathPattern {
    fn matches(&self, path: &[u8]) -> bool {
        match self {
            PathPattern::Prefix(prefix) => path
                .strip_prefix(prefix.as_bytes())
                .is_some_and(|rest| rest.is_empty() || rest[0] == b'/'),
            PathPattern::Exact(exact) => path == exact.as_bytes(),
            PathPattern::Glob(segments) => {
                let parts: Vec<&[u8]> = path[1..].split(|&b| b == b'/').collect();
                glob_segments(segments, &parts)
            }
        }
    }
}

/// Matches path segments against glob segments (`**`: any number of whole segments).
/// Adds `item` to sorted, duplicate-free `list` unless it is there. Rather than a sort and a
/// dedup: the lists are short (a request's picked rules, a configuration's claim names), and
/// each sort instantiation was 4-11 KB of the module.
pub fn insert_sorted<T: Ord>(list: &mut Vec<T>, item: T) {
    if let Err(at) = list.binary_search(&item) {
        list.insert(at, item);
    }
}

fn glob_segments(pattern: &[String], parts: &[&[u8]]) -> bool {
    match pattern.split_first() {
        None => parts.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=parts.len()).any(|skip| glob_segments(rest, &parts[skip..]))
        }
        Some((first, rest)) => parts.split_first().is_some_and(|(part, others)| {
            glob_segment(first.as_bytes(), part) && glob_segments(rest, others)
        }),
    }
}

/// Matches one segment against a pattern where `*` is any run of bytes.
fn glob_segment(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob_segment(rest, &text[skip..])),
        Some((c, rest)) => text
            .split_first()
            .is_some_and(|(t, others)| t == c && glob_segment(rest, others)),
    }
}

/// The host of an `:authority`, lower case, without port or trailing dot.
pub fn host_name(authority: &[u8]) -> String {
    let text = String::from_utf8_lossy(authority).to_ascii_lowercase();
    let host = if let Some(end) = text.strip_prefix('[').and_then(|t| t.find(']')) {
        &text[..end + 2]
    } else {
        text.rsplit_once(':').map_or(text.as_str(), |(h, _)| h)
    };
    host.trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests;
