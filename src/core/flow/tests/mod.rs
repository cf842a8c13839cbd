//! Every flow driven natively, event by event, through `Flow::step`: the IdP's answers, the
//! clock and randomness are plain inputs here.

mod answer;
mod audit;
mod backchannel;
mod callback;
mod key_wait;
mod logout;
mod opaque_check;
mod session_refresh;

use serde_json::{json, Value};

use super::{Call, CallResponse, Effect, Event, Flow, Inputs, Reply, Step};
use crate::config::Config;
use crate::core::decide::{decide, OnUnknownKid, Request, Verifier};
use crate::core::discovery::Discovery;
use crate::core::jwks::{Alg, KeySet};
use crate::core::login::Random;
use crate::core::revocation::{self, Revocations, Slot};
use crate::core::session::Session;
use crate::core::test_keys::{all_jwks, jwks_body, mint};

pub const ISS: &str = "https://idp.example.com";
pub const NOW_MS: u64 = 1_800_000_000_000;
pub const NOW: u64 = NOW_MS / 1000;

pub fn config_with(extra: Value) -> Config {
    let mut raw = json!({
        "issuer": ISS, "idp_cluster": "idp", "client_id": "app", "client_secret": "s3cret",
        "session_keys": ["MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="],
    });
    for (k, v) in extra.as_object().unwrap() {
        raw[k] = v.clone();
    }
    Config::from_json(raw.to_string().as_bytes(), &|_: &str| None).unwrap()
}

pub fn config() -> Config {
    config_with(json!({}))
}

pub fn discovery() -> Discovery {
    Discovery {
        issuer: ISS.into(),
        jwks_uri: format!("{ISS}/jwks"),
        authorization_endpoint: Some(format!("{ISS}/authorize")),
        token_endpoint: Some(format!("{ISS}/token")),
        userinfo_endpoint: Some(format!("{ISS}/userinfo")),
        end_session_endpoint: Some(format!("{ISS}/logout")),
        revocation_endpoint: None,
        introspection_endpoint: None,
        iss_parameter_supported: false,
    }
}

pub fn keys() -> KeySet {
    KeySet::parse(&jwks_body(all_jwks())).unwrap()
}

/// What the flows see: `config`, the IdP known and its keys fetched, at `NOW_MS`.
pub struct World {
    pub config: Config,
    pub discovery: Option<Discovery>,
    pub keys: Option<KeySet>,
    pub now_ms: u64,
    pub revoked: RevokedHere,
}

/// A revocation list in memory.
#[derive(Default)]
pub struct RevokedHere(pub std::collections::HashMap<u64, Slot>);

impl Revocations for RevokedHere {
    fn slot(&self, index: u64) -> Slot {
        self.0.get(&index).cloned().unwrap_or_default()
    }
}

impl RevokedHere {
    /// Carries out `Effect::Revoke`s.
    pub fn apply(&mut self, effects: &[Effect], now: u64) {
        for effect in effects {
            if let Effect::Revoke { entry, slot_key } = effect {
                let index = revocation::slot_of(slot_key);
                let (next, _) = self.slot(index).with(entry.clone(), now);
                self.0.insert(index, next);
            }
        }
    }
}

impl World {
    pub fn new() -> World {
        World::with(config())
    }

    pub fn with(config: Config) -> World {
        World {
            config,
            discovery: Some(discovery()),
            keys: Some(keys()),
            now_ms: NOW_MS,
            revoked: RevokedHere::default(),
        }
    }

    pub fn inputs(&self) -> Inputs<'_> {
        Inputs {
            config: &self.config,
            discovery: self.discovery.as_ref(),
            keys: self.keys.as_ref(),
            now_ms: self.now_ms,
        }
    }

    pub fn step(&self, flow: Flow, event: Event) -> Step {
        flow.step(event, &self.inputs(), &mut Counter(0))
    }

    /// The request's headers arrive: decided, then stepped from `Idle`.
    pub fn arrive(&self, request: Request) -> Step {
        let mut verifier = Verifier::new(1);
        if let Some(keys) = &self.keys {
            verifier.set_keys(0, keys.clone());
        }
        let now_s = self.now_ms / 1000;
        let decision = decide(
            &self.config,
            &request,
            &mut verifier,
            &self.revoked,
            now_s,
            OnUnknownKid::AwaitRefetch,
        );
        self.step(Flow::Idle, Event::Decided { decision, request })
    }
}

/// Deterministic randomness.
pub struct Counter(pub u8);

impl Random for Counter {
    fn fill(&mut self, bytes: &mut [u8]) -> bool {
        for b in bytes {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
        true
    }
}

/// A host that has no randomness to give.
pub struct NoRandom;

impl Random for NoRandom {
    fn fill(&mut self, _: &mut [u8]) -> bool {
        false
    }
}

/// A top-level browser navigation to `path` on `gate.example.com`, with `cookie`.
pub fn navigation(path: &str, cookie: Option<&str>) -> Request {
    let mut headers: Vec<(&str, &[u8])> = vec![
        (":method", b"GET"),
        (":scheme", b"https"),
        (":authority", b"gate.example.com"),
        (":path", path.as_bytes()),
        ("sec-fetch-mode", b"navigate"),
        ("sec-fetch-site", b"same-origin"),
    ];
    if let Some(cookie) = cookie {
        headers.push(("cookie", cookie.as_bytes()));
    }
    Request::from_headers(headers)
}

/// An API call (`fetch()`) with `cookie`.
pub fn api_call(path: &str, cookie: Option<&str>) -> Request {
    let mut headers: Vec<(&str, &[u8])> = vec![
        (":method", b"GET"),
        (":scheme", b"https"),
        (":authority", b"gate.example.com"),
        (":path", path.as_bytes()),
        ("sec-fetch-mode", b"cors"),
    ];
    if let Some(cookie) = cookie {
        headers.push(("cookie", cookie.as_bytes()));
    }
    Request::from_headers(headers)
}

pub fn session(tokens_expire_at: u64) -> Session {
    Session {
        userid: "alice@example.com".into(),
        groups: vec!["staff".into()],
        sub: "u1".into(),
        sid: "sid-1".into(),
        issued_at: NOW - 100,
        expires_at: NOW + 86_400,
        refresh_token: Some("rt-1".into()),
        id_token: Some("old-id-token".into()),
        tokens_expire_at,
        idp_sid: None,
        validated_at: 0,
        grants: Default::default(),
        forward_token: None,
    }
}

/// The `Cookie` header a browser holding `session` sends.
pub fn session_cookie(config: &Config, session: &Session) -> String {
    crate::core::test_keys::session_cookie_header(config, ISS, session)
}

/// A signed id_token from the test IdP.
pub fn id_token(claims: Value) -> String {
    mint(Alg::Rs256, &json!({"alg": "RS256", "kid": "rsa"}), &claims)
}

/// A token endpoint's `200` answer.
pub fn token_answer(body: Value) -> Event {
    answer(b"200", body.to_string().as_bytes())
}

pub fn answer(status: &[u8], body: &[u8]) -> Event {
    Event::CallAnswered(CallResponse {
        status: Some(status.to_vec()),
        body: body.to_vec(),
    })
}

/// The call timed out: no status.
pub fn no_answer() -> Event {
    Event::CallAnswered(CallResponse::default())
}

// Reading effects.

pub fn reply(step: &Step) -> &Reply {
    step.effects
        .iter()
        .find_map(|e| match e {
            Effect::Reply(reply) => Some(reply),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no reply in {:?}", step.effects))
}

pub fn call(step: &Step) -> &Call {
    step.effects
        .iter()
        .find_map(|e| match e {
            Effect::Call(call) => Some(call),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no call in {:?}", step.effects))
}

pub fn header<'a>(reply: &'a Reply, name: &str) -> Vec<&'a str> {
    reply
        .headers
        .iter()
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

pub fn location(reply: &Reply) -> url::Url {
    url::Url::parse(header(reply, "location")[0]).unwrap()
}

pub fn query_param(url: &url::Url, name: &str) -> String {
    url.query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

/// The cookies a reply sets, as a browser would send them back (cleared ones left out).
pub fn cookies_set(reply: &Reply) -> String {
    header(reply, "set-cookie")
        .iter()
        .filter(|c| !c.contains("Max-Age=0;"))
        .map(|c| c.split(';').next().unwrap())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The step's `Pass` effect.
pub fn pass(step: &Step) -> &super::Pass {
    step.effects
        .iter()
        .find_map(|e| match e {
            Effect::Pass(pass) => Some(pass),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no pass in {:?}", step.effects))
}

pub fn counted(step: &Step, prefix: &str, label: &str) -> bool {
    step.effects
        .iter()
        .any(|e| matches!(e, Effect::Count { prefix: p, label: l } if *p == prefix && *l == label))
}

pub fn is_idle(step: &Step) -> bool {
    matches!(step.flow, Flow::Idle)
}
