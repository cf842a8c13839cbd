//! The filter driven end to end without Envoy: a fake host stands in for one Envoy process
//! with one or more worker VMs (`Root`s sharing its shared data).

mod fake_host;
mod observability;
mod opaque;
mod pinned;

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::config::Environment;
use crate::core::flow::{CallResponse, Level};
use crate::core::jwks::Alg;
use crate::core::session::Session;
use crate::core::test_keys::{all_jwks, jwks_body, mint};
use crate::filter::executor::Verdict;
use crate::filter::root::Root;
use crate::filter::stream::Stream;
use fake_host::FakeHost;

const ISS: &str = "https://idp.example.com";
const NOW_MS: u64 = 1_800_000_000_000;
const NOW: u64 = NOW_MS / 1000;
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn plugin_config() -> Value {
    json!({"issuer": ISS, "idp_cluster": "idp", "client_id": "app", "client_secret": "s3cret",
           "session_keys": [KEY], "idp_timeout_ms": 2000,
           "backchannel_logout_path": "/backchannel", "skip_auth_paths": ["/public"]})
}

fn discovery_body() -> Vec<u8> {
    json!({"issuer": ISS, "jwks_uri": format!("{ISS}/jwks"),
           "authorization_endpoint": format!("{ISS}/authorize"),
           "token_endpoint": format!("{ISS}/token"),
           "revocation_endpoint": format!("{ISS}/revoke"),
           "end_session_endpoint": format!("{ISS}/logout")})
    .to_string()
    .into_bytes()
}

fn ok(body: Vec<u8>) -> CallResponse {
    CallResponse {
        status: Some(b"200".to_vec()),
        body,
    }
}

fn bearer(email: &str) -> String {
    let claims = json!({"iss": ISS, "aud": "app", "sub": "u1", "exp": NOW + 600, "email": email});
    let token = mint(Alg::Rs256, &json!({"alg": "RS256", "kid": "rsa"}), &claims);
    format!("Bearer {token}")
}

/// One worker VM of the process: its root context and its live HTTP contexts.
struct Vm {
    root: Root,
    streams: HashMap<u32, Stream>,
}

/// One Envoy process: the host and its worker VMs.
struct Envoy {
    host: FakeHost,
    vms: Vec<Vm>,
}

impl Envoy {
    fn new(workers: usize) -> Envoy {
        Envoy::configured(workers, &plugin_config(), &|_: &str| None)
    }

    /// `workers` VMs configured with `config`, their VM environment `env`.
    fn configured(workers: usize, config: &Value, env: &dyn Environment) -> Envoy {
        let mut host = FakeHost::new(NOW_MS);
        let raw = config.to_string();
        let vms = (0..workers)
            .map(|_| {
                let mut root = Root::new(&mut host);
                assert!(root.configure(&mut host, raw.as_bytes(), env));
                Vm {
                    root,
                    streams: HashMap::new(),
                }
            })
            .collect();
        Envoy { host, vms }
    }

    /// A request arrives at worker `vm` on context `context`.
    fn send(&mut self, vm: usize, context: u32, headers: &[(&str, &str)]) -> Verdict {
        let mut all = vec![
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "gate.example.com"),
        ];
        all.extend_from_slice(headers);
        self.host.request(context, &all);
        let vm = &mut self.vms[vm];
        let mut stream = vm.root.new_stream(context).unwrap();
        let verdict = stream.on_request_headers(&mut self.host, true);
        vm.streams.insert(context, stream);
        verdict
    }

    fn tick(&mut self, vm: usize) {
        self.host.current = 0;
        self.vms[vm].root.on_tick(&mut self.host);
    }

    /// A request with a body arrives at worker `vm` on context `context`.
    fn post(&mut self, vm: usize, context: u32, headers: &[(&str, &str)], body: &[u8]) -> Verdict {
        let mut all = vec![(":method", "POST"), (":authority", "gate.example.com")];
        all.extend_from_slice(headers);
        self.host.request(context, &all);
        self.host.request_bodies.insert(context, body.to_vec());
        let vm = &mut self.vms[vm];
        let mut stream = vm.root.new_stream(context).unwrap();
        // The headers must go on for Envoy to hand over the body (Proxy-Wasm ABI 0.2.1).
        assert_eq!(
            stream.on_request_headers(&mut self.host, false),
            Verdict::Continue
        );
        let verdict = stream.on_request_body(&mut self.host, body.len(), true);
        vm.streams.insert(context, stream);
        verdict
    }

    /// Answers the last call worker `vm`'s root context dispatched.
    fn answer_root_call(&mut self, vm: usize, response: CallResponse) {
        let token = self.host.last_call().token;
        assert_eq!(self.host.last_call().context, 0);
        self.host.answer = Some(response);
        self.host.current = 0;
        self.vms[vm]
            .root
            .on_call_response(&mut self.host, token, 1, 0);
    }

    /// Answers the call context `context` dispatched.
    fn answer_stream_call(&mut self, vm: usize, context: u32, response: CallResponse) {
        self.host.answer = Some(response);
        self.host.current = context;
        let stream = self.vms[vm].streams.get_mut(&context).unwrap();
        stream.on_call_response(&mut self.host, 1, 0);
    }

    /// The upstream's response headers pass through context `context`.
    fn respond(&mut self, vm: usize, context: u32) -> Vec<String> {
        self.host.current = context;
        let stream = self.vms[vm].streams.get_mut(&context).unwrap();
        stream.on_response_headers(&mut self.host);
        let added = self
            .host
            .response_headers
            .remove(&context)
            .unwrap_or_default();
        added
            .into_iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v)
            .collect()
    }

    /// The client of `context` goes away.
    fn hang_up(&mut self, vm: usize, context: u32) {
        self.host.gone.push(context);
        let mut stream = self.vms[vm].streams.remove(&context).unwrap();
        stream.on_done(&mut self.host);
    }

    /// Worker `vm` fetches discovery and keys.
    fn fetch_keys(&mut self, vm: usize) {
        self.tick(vm);
        assert_eq!(
            self.host.last_call().header(":path"),
            Some("/.well-known/openid-configuration")
        );
        self.answer_root_call(vm, ok(discovery_body()));
        assert_eq!(self.host.last_call().header(":path"), Some("/jwks"));
        self.answer_root_call(vm, ok(jwks_body(all_jwks())));
    }
}

#[test]
fn a_request_that_arrives_before_keys_is_held_and_resumed_when_the_fetch_completes() {
    let mut envoy = Envoy::new(1);
    let token = bearer("bob@example.com");
    assert_eq!(
        envoy.send(0, 2, &[(":path", "/api"), ("authorization", &token)]),
        Verdict::Pause
    );
    assert!(envoy.host.replies.is_empty() && envoy.host.resumed.is_empty());
    assert_eq!(
        envoy.host.tick_ms, 10,
        "an eager tick while keys are missing"
    );
    envoy.fetch_keys(0);
    assert_eq!(envoy.host.resumed, [2]);
    assert_eq!(
        envoy.host.upstream_header(2, "kubeflow-userid").as_deref(),
        Some("bob@example.com")
    );
    assert_eq!(envoy.host.counter("allowed.bearer"), 1);
    assert_eq!(
        envoy.host.counter("issuer.idp_example_com.jwks_fetch_ok"),
        1
    );
    envoy.tick(0);
    assert_eq!(
        envoy.host.tick_ms, 200,
        "a calm tick once keys are in and nothing is held"
    );
}

#[test]
fn a_held_request_gets_503_when_the_idp_stays_down_past_its_deadline() {
    let mut envoy = Envoy::new(1);
    let token = bearer("bob@example.com");
    envoy.send(0, 2, &[(":path", "/api"), ("authorization", &token)]);
    envoy.tick(0);
    envoy.answer_root_call(0, CallResponse::default());
    assert!(envoy.host.replies.is_empty(), "held until its deadline");
    assert!(envoy
        .host
        .logs
        .iter()
        .any(|(level, m)| *level == Level::Warn
            && m.contains("fetching keys of https://idp.example.com failed")));
    envoy.host.now_ms += 2_000;
    envoy.tick(0);
    assert_eq!(envoy.host.replies[&2].status, 503);
    assert_eq!(envoy.host.counter("denied.keys_unavailable"), 1);
    assert!(envoy.host.resumed.is_empty());
}

#[test]
fn one_worker_fetches_and_every_worker_uses_the_keys() {
    let mut envoy = Envoy::new(2);
    let token = bearer("bob@example.com");
    envoy.send(1, 7, &[(":path", "/api"), ("authorization", &token)]);
    envoy.tick(0);
    let calls = envoy.host.calls.len();
    envoy.tick(1);
    assert_eq!(
        envoy.host.calls.len(),
        calls,
        "the second worker does not fetch again"
    );
    envoy.answer_root_call(0, ok(discovery_body()));
    envoy.answer_root_call(0, ok(jwks_body(all_jwks())));
    assert!(envoy.host.resumed.is_empty(), "worker 1 has not looked yet");
    envoy.tick(1);
    assert_eq!(envoy.host.resumed, [7]);
}

#[test]
fn a_client_that_goes_away_while_held_is_never_answered() {
    let mut envoy = Envoy::new(1);
    let token = bearer("bob@example.com");
    envoy.send(0, 2, &[(":path", "/api"), ("authorization", &token)]);
    envoy.hang_up(0, 2);
    envoy.fetch_keys(0);
    assert!(envoy.host.resumed.is_empty() && envoy.host.replies.is_empty());
}

#[test]
fn identity_headers_sent_by_the_client_never_reach_the_upstream() {
    let mut envoy = Envoy::new(1);
    envoy.fetch_keys(0);
    let token = bearer("bob@example.com");
    let spoofed = [
        (":path", "/api"),
        ("authorization", token.as_str()),
        ("kubeflow_userid", "mallory"),
        ("kubeflow.groups", "admins"),
    ];
    assert_eq!(envoy.send(0, 2, &spoofed), Verdict::Continue);
    assert_eq!(
        envoy.host.upstream_header(2, "kubeflow-userid").as_deref(),
        Some("bob@example.com")
    );
    assert_eq!(
        envoy.host.upstream_header(2, "kubeflow-groups").as_deref(),
        Some("")
    );
    assert_eq!(envoy.host.upstream_header(2, "kubeflow_userid"), None);
    assert_eq!(envoy.host.upstream_header(2, "kubeflow.groups"), None);
    // Refused requests lose them too.
    let denied = [(":path", "/api"), ("kubeflow_userid", "mallory")];
    assert_eq!(envoy.send(0, 3, &denied), Verdict::Pause);
    assert_eq!(envoy.host.replies[&3].status, 401);
    assert_eq!(envoy.host.upstream_header(3, "kubeflow_userid"), None);
}

/// The identity `context`'s request carries into Envoy's filter state: user id, groups, issuer
/// and `sub` (`None` for each key not set).
fn published(envoy: &Envoy, context: u32) -> [Option<&str>; 4] {
    let state = envoy.host.filter_state.get(&context);
    ["userid", "groups", "issuer", "sub"].map(|field| {
        let key = format!("oidc_gate.{field}");
        state.and_then(|s| s.get(&key)).map(String::as_str)
    })
}

#[test]
fn the_identity_is_published_to_envoy_for_later_filters_and_the_access_log() {
    let mut envoy = Envoy::new(1);
    envoy.fetch_keys(0);
    let token = bearer("bob@example.com");
    let spoofed = [
        (":path", "/api"),
        ("authorization", token.as_str()),
        ("kubeflow-userid", "mallory"),
    ];
    assert_eq!(envoy.send(0, 2, &spoofed), Verdict::Continue);
    let expected = [Some("bob@example.com"), Some(""), Some(ISS), Some("u1")];
    assert_eq!(published(&envoy, 2), expected);
    let state = &envoy.host.filter_state[&2];
    assert_eq!(state["oidc_gate.passed"], "1");
    assert_eq!(state.len(), 5, "nothing else, and no token: {state:?}");
    // A path that passes without identity publishes no identity, whatever the client sends,
    // only the mark that the filter let it through.
    let skipped = [
        (":path", "/public/logo.png"),
        ("authorization", token.as_str()),
        ("kubeflow-userid", "mallory"),
    ];
    assert_eq!(envoy.send(0, 3, &skipped), Verdict::Continue);
    assert_eq!(published(&envoy, 3), [None; 4]);
    let state = &envoy.host.filter_state[&3];
    assert_eq!(state.keys().collect::<Vec<_>>(), ["oidc_gate.passed"]);
    // Refused requests publish nothing either.
    envoy.send(0, 4, &[(":path", "/api")]);
    assert_eq!(envoy.host.replies[&4].status, 401);
    assert!(!envoy.host.filter_state.contains_key(&4));
}

#[test]
fn a_request_whose_identity_envoy_will_not_store_does_not_pass() {
    // A later RBAC filter would otherwise decide on whatever another filter stored there.
    let mut envoy = Envoy::new(1);
    envoy.fetch_keys(0);
    envoy.host.refuse_filter_state = true;
    let token = bearer("bob@example.com");
    assert_eq!(
        envoy.send(0, 2, &[(":path", "/api"), ("authorization", &token)]),
        Verdict::Pause
    );
    assert_eq!(envoy.host.replies[&2].status, 500);
    assert_eq!(envoy.host.upstream_header(2, "kubeflow-userid"), None);
    assert_eq!(envoy.host.counter("denied.identity_not_published"), 1);
    // Without the mark, a request that needs no identity does not pass either: the policy
    // that requires the mark would refuse it anyway, and this says why.
    assert_eq!(
        envoy.send(0, 3, &[(":path", "/public/logo.png")]),
        Verdict::Pause
    );
    assert_eq!(envoy.host.replies[&3].status, 500);
}

/// The cookie header of a browser that got these `Set-Cookie`s.
fn cookie_jar(set_cookies: &[&str]) -> String {
    set_cookies
        .iter()
        .filter(|c| !c.contains("Max-Age=0;"))
        .map(|c| c.split(';').next().unwrap())
        .collect::<Vec<_>>()
        .join("; ")
}

fn reply_header<'a>(envoy: &'a Envoy, context: u32, name: &str) -> Vec<&'a str> {
    let reply = &envoy.host.replies[&context];
    reply
        .headers
        .iter()
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn a_browser_signs_in_through_the_filter_and_its_session_passes() {
    let mut envoy = Envoy::new(1);
    envoy.fetch_keys(0);
    let navigate = [("sec-fetch-mode", "navigate")];
    envoy.send(0, 2, &[&[(":path", "/app")][..], &navigate].concat());
    assert_eq!(envoy.host.replies[&2].status, 302);
    let idp = url::Url::parse(reply_header(&envoy, 2, "location")[0]).unwrap();
    let param = |name: &str| {
        idp.query_pairs()
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .into_owned()
    };
    let flow_cookie = cookie_jar(&reply_header(&envoy, 2, "set-cookie"));

    let callback = format!(
        "/authservice/oidc/callback?code=c1&state={}",
        param("state")
    );
    let headers = [
        (":path", callback.as_str()),
        ("cookie", flow_cookie.as_str()),
    ];
    assert_eq!(
        envoy.send(0, 3, &[&headers[..], &navigate].concat()),
        Verdict::Pause
    );
    let call = envoy.host.last_call().clone();
    assert_eq!((call.context, call.header(":path")), (3, Some("/token")));
    assert_eq!(
        (call.cluster.as_str(), call.header(":method")),
        ("idp", Some("POST"))
    );
    let form = String::from_utf8(call.body.clone().unwrap()).unwrap();
    assert!(
        form.contains("code=c1") && form.contains("code_verifier="),
        "{form}"
    );

    let claims = json!({"iss": ISS, "aud": "app", "sub": "u1", "iat": NOW, "exp": NOW + 600,
                        "nonce": param("nonce"), "email": "alice@example.com", "groups": ["staff"]});
    let id_token = mint(Alg::Rs256, &json!({"alg": "RS256", "kid": "rsa"}), &claims);
    let tokens = json!({"access_token": "at", "token_type": "Bearer", "expires_in": 600,
                        "id_token": id_token, "refresh_token": "rt"});
    envoy.answer_stream_call(0, 3, ok(tokens.to_string().into_bytes()));
    assert_eq!(envoy.host.replies[&3].status, 302);
    assert_eq!(reply_header(&envoy, 3, "location"), ["/app"]);
    let session = cookie_jar(&reply_header(&envoy, 3, "set-cookie"));

    let cookies = format!("{session}; theme=dark");
    assert_eq!(
        envoy.send(0, 4, &[(":path", "/app"), ("cookie", &cookies)]),
        Verdict::Continue
    );
    assert_eq!(
        envoy.host.upstream_header(4, "kubeflow-userid").as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(
        envoy.host.upstream_header(4, "cookie").as_deref(),
        Some("theme=dark")
    );
    let identity = [
        Some("alice@example.com"),
        Some("staff"),
        Some(ISS),
        Some("u1"),
    ];
    assert_eq!(published(&envoy, 4), identity);
    assert_eq!(envoy.host.counter("login.completed"), 1);
}

fn due_session_cookie() -> String {
    let session = Session {
        userid: "alice@example.com".into(),
        groups: vec!["staff".into()],
        sub: "u1".into(),
        sid: "sid-1".into(),
        issued_at: NOW - 100,
        expires_at: NOW + 86_400,
        refresh_token: Some("rt-1".into()),
        id_token: None,
        tokens_expire_at: NOW + 30,
        idp_sid: None,
        validated_at: 0,
        grants: Default::default(),
        forward_token: None,
    };
    session_cookie_for(&session)
}

fn refreshed_tokens() -> CallResponse {
    let body = json!({"access_token": "at2", "token_type": "Bearer", "expires_in": 900,
                      "refresh_token": "rt-2"});
    ok(body.to_string().into_bytes())
}

#[test]
fn one_request_refreshes_a_due_session_and_the_others_wait_for_its_cookies() {
    let mut envoy = Envoy::new(2);
    envoy.fetch_keys(0);
    envoy.tick(1);
    let cookie = due_session_cookie();
    let request = [(":path", "/api"), ("cookie", cookie.as_str())];
    assert_eq!(envoy.send(0, 2, &request), Verdict::Pause);
    let refresh = envoy.host.last_call().clone();
    assert_eq!(
        (refresh.context, refresh.header(":path")),
        (2, Some("/token"))
    );
    assert_eq!(envoy.send(1, 3, &request), Verdict::Pause);
    assert_eq!(
        envoy.host.calls.len(),
        refresh.token as usize,
        "the second request does not call"
    );

    envoy.answer_stream_call(0, 2, refreshed_tokens());
    assert_eq!(envoy.host.resumed, [2]);
    let first = envoy.respond(0, 2);
    assert!(!first.is_empty());
    envoy.tick(1);
    assert_eq!(envoy.host.resumed, [2, 3]);
    assert_eq!(
        envoy.respond(1, 3),
        first,
        "the waiting request gets the same new session"
    );
    let identity = [
        Some("alice@example.com"),
        Some("staff"),
        Some(ISS),
        Some("u1"),
    ];
    assert_eq!(published(&envoy, 3), identity, "and the same identity");
    assert_eq!(envoy.host.counter("session.refreshed"), 1);
}

#[test]
fn two_workers_that_find_no_refresh_entry_at_the_same_moment_do_not_both_refresh() {
    // A refresh token works once under rotation: of two claims on an empty board slot, the
    // one written second must see the first and wait for it.
    let cookie = due_session_cookie();
    let request = [(":path", "/api"), ("cookie", cookie.as_str())];
    let mut other_worker = Envoy::new(1);
    other_worker.fetch_keys(0);
    assert_eq!(other_worker.send(0, 2, &request), Verdict::Pause);
    let its_claim = other_worker.host.shared_entry("|refresh|").unwrap();

    let mut envoy = Envoy::new(1);
    envoy.fetch_keys(0);
    let calls = envoy.host.calls.len();
    envoy.host.write_in_between = Some(its_claim);
    assert_eq!(envoy.send(0, 2, &request), Verdict::Pause);
    assert_eq!(
        envoy.host.calls.len(),
        calls,
        "it waits instead of refreshing"
    );
}

#[test]
fn a_refresh_whose_client_goes_away_holds_no_one_up() {
    let mut envoy = Envoy::new(1);
    envoy.fetch_keys(0);
    let cookie = due_session_cookie();
    let request = [(":path", "/api"), ("cookie", cookie.as_str())];
    envoy.send(0, 2, &request);
    let calls = envoy.host.calls.len();
    envoy.hang_up(0, 2);
    // Not held for the gone request's lease: the still-valid session passes at once.
    assert_eq!(envoy.send(0, 3, &request), Verdict::Continue);
    assert_eq!(envoy.host.calls.len(), calls);
    // After the backoff, the next request refreshes.
    envoy.host.now_ms += crate::core::key_fetch::backoff_ms(1);
    assert_eq!(envoy.send(0, 4, &request), Verdict::Pause);
    assert_eq!(envoy.host.calls.len(), calls + 1);
    assert_eq!(envoy.host.last_call().context, 4);
}

#[test]
fn an_idp_down_during_refresh_keeps_the_session_working() {
    let mut envoy = Envoy::new(1);
    envoy.fetch_keys(0);
    let cookie = due_session_cookie();
    envoy.send(0, 2, &[(":path", "/api"), ("cookie", cookie.as_str())]);
    envoy.answer_stream_call(0, 2, CallResponse::default());
    assert_eq!(envoy.host.resumed, [2]);
    assert_eq!(
        envoy.host.upstream_header(2, "kubeflow-userid").as_deref(),
        Some("alice@example.com")
    );
    assert!(envoy.respond(0, 2).is_empty());
    // Within the backoff, the next request passes without calling.
    let calls = envoy.host.calls.len();
    assert_eq!(
        envoy.send(0, 3, &[(":path", "/api"), ("cookie", cookie.as_str())]),
        Verdict::Continue
    );
    assert_eq!(envoy.host.calls.len(), calls);
}

#[test]
fn a_bad_configuration_is_refused_with_one_log_line_naming_the_field() {
    let mut host = FakeHost::new(NOW_MS);
    let mut root = Root::new(&mut host);
    let mut raw = plugin_config();
    raw["idp_timeout_ms"] = json!("soon");
    assert!(!root.configure(&mut host, raw.to_string().as_bytes(), &|_: &str| None));
    assert_eq!(host.logs.len(), 1);
    assert!(host.logs[0].1.contains("idp_timeout_ms"), "{:?}", host.logs);
    assert!(root.new_stream(2).is_none());
}

fn session_cookie_for(session: &Session) -> String {
    let raw = plugin_config().to_string();
    let config = crate::config::Config::from_json(raw.as_bytes(), &|_: &str| None).unwrap();
    crate::core::test_keys::session_cookie_header(&config, ISS, session)
}

fn live_session() -> Session {
    Session {
        userid: "alice@example.com".into(),
        groups: vec!["staff".into()],
        sub: "u1".into(),
        sid: "sid-9".into(),
        issued_at: NOW - 100,
        expires_at: NOW + 86_400,
        refresh_token: Some("rt-9".into()),
        id_token: None,
        tokens_expire_at: NOW + 3_600,
        idp_sid: Some("idp-9".into()),
        validated_at: NOW - 100,
        grants: Default::default(),
        forward_token: None,
    }
}

#[test]
fn a_logout_on_one_worker_ends_the_session_on_every_worker_and_revokes_its_refresh_token() {
    let mut envoy = Envoy::new(2);
    envoy.fetch_keys(0);
    envoy.tick(1);
    let cookie = session_cookie_for(&live_session());
    let api = [(":path", "/api"), ("cookie", cookie.as_str())];
    assert_eq!(envoy.send(1, 2, &api), Verdict::Continue);
    let logout = [
        (":path", "/authservice/logout"),
        ("cookie", cookie.as_str()),
        ("sec-fetch-mode", "navigate"),
    ];
    envoy.send(0, 3, &logout);
    assert_eq!(
        envoy.host.replies[&3].status, 302,
        "the logout answers at once"
    );
    for (vm, context) in [(0, 4), (1, 5)] {
        assert_eq!(envoy.send(vm, context, &api), Verdict::Pause, "worker {vm}");
        assert_eq!(envoy.host.replies[&context].status, 401, "worker {vm}");
    }
    // The revocation call goes out from the root context on its next tick.
    let calls = envoy.host.calls.len();
    envoy.tick(0);
    assert_eq!(envoy.host.calls.len(), calls + 1);
    let call = envoy.host.last_call().clone();
    assert_eq!((call.context, call.header(":path")), (0, Some("/revoke")));
    let form = String::from_utf8(call.body.unwrap()).unwrap();
    assert!(form.contains("token=rt-9") && form.contains("token_type_hint=refresh_token"));
    envoy.answer_root_call(0, CallResponse::default());
    assert_eq!(
        envoy.host.counter("token_revocation.failed"),
        1,
        "logged, nothing else"
    );
    assert_eq!(envoy.host.counter("revocation.added"), 1);
}

fn logout_token(claims: Value) -> String {
    mint(
        Alg::Rs256,
        &json!({"alg": "RS256", "kid": "rsa", "typ": "logout+jwt"}),
        &claims,
    )
}

#[test]
fn the_idp_ends_a_session_through_the_back_channel() {
    let mut envoy = Envoy::new(2);
    envoy.fetch_keys(0);
    envoy.tick(1);
    let cookie = session_cookie_for(&live_session());
    let claims = json!({"iss": ISS, "aud": "app", "iat": NOW, "exp": NOW + 120, "jti": "j-1",
                        "sid": "idp-9", "events": {crate::core::logout_token::BACKCHANNEL_EVENT: {}}});
    let body = format!("logout_token={}", logout_token(claims));
    let form = [
        (":path", "/backchannel"),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    envoy.post(1, 2, &form, body.as_bytes());
    assert_eq!(envoy.host.replies[&2].status, 200);
    let api = [(":path", "/api"), ("cookie", cookie.as_str())];
    assert_eq!(envoy.send(0, 3, &api), Verdict::Pause);
    assert_eq!(envoy.host.replies[&3].status, 401);
    // The same token again, on the other worker: refused as a replay.
    envoy.post(0, 4, &form, body.as_bytes());
    assert_eq!(envoy.host.replies[&4].status, 400);
    assert!(envoy.host.replies[&4]
        .body
        .contains("logout_token_replayed"));
    // A body without a token: 400, and nobody else is logged out.
    envoy.post(0, 5, &form, b"");
    assert_eq!(envoy.host.replies[&5].status, 400);
}

#[test]
fn a_held_request_keeps_its_body_back_until_it_is_let_through() {
    let mut envoy = Envoy::new(1);
    let token = bearer("bob@example.com");
    envoy.host.request(
        2,
        &[
            (":method", "POST"),
            (":path", "/api"),
            ("authorization", &token),
        ],
    );
    let mut stream = envoy.vms[0].root.new_stream(2).unwrap();
    assert_eq!(
        stream.on_request_headers(&mut envoy.host, false),
        Verdict::Pause
    );
    assert_eq!(
        stream.on_request_body(&mut envoy.host, 10, false),
        Verdict::Pause
    );
    envoy.vms[0].streams.insert(2, stream);
    envoy.fetch_keys(0);
    assert_eq!(envoy.host.resumed, [2]);
    let stream = envoy.vms[0].streams.get_mut(&2).unwrap();
    assert_eq!(
        stream.on_request_body(&mut envoy.host, 20, true),
        Verdict::Continue
    );
}

/// The gRPC status, message and body of the reply to `context`.
fn grpc_reply(envoy: &Envoy, context: u32) -> (u16, String, String, String) {
    let reply = &envoy.host.replies[&context];
    let one = |name| reply_header(envoy, context, name).join(",");
    (
        reply.status,
        one("grpc-status"),
        one("content-type"),
        reply.body.clone(),
    )
}

#[test]
fn a_grpc_call_without_credential_gets_unauthenticated_never_a_login_page() {
    let mut envoy = Envoy::new(1);
    envoy.fetch_keys(0);
    let grpc = ("content-type", "application/grpc");
    envoy.send(
        0,
        2,
        &[(":method", "POST"), (":path", "/pkg.Svc/Call"), grpc],
    );
    // Metadata that looks like a browser's navigation changes nothing.
    let navigation = [("accept", "text/html"), ("sec-fetch-mode", "navigate")];
    envoy.send(
        0,
        3,
        &[&[(":path", "/pkg.Svc/Call"), grpc], &navigation[..]].concat(),
    );
    for context in [2, 3] {
        let expected = (200, "16".into(), "application/grpc".into(), String::new());
        assert_eq!(grpc_reply(&envoy, context), expected);
        assert_eq!(
            reply_header(&envoy, context, "grpc-message"),
            ["401 Unauthorized: a valid bearer token or session is required"]
        );
        assert!(reply_header(&envoy, context, "location").is_empty());
    }
    assert_eq!(envoy.host.counter("denied.no_credential"), 2);
    assert_eq!(envoy.host.counter("login.started"), 0);
}

#[test]
fn a_held_grpc_call_that_cannot_be_decided_gets_unavailable() {
    let mut envoy = Envoy::new(1);
    let token = bearer("bob@example.com");
    let grpc_web = ("content-type", "application/grpc-web+proto");
    envoy.send(
        0,
        2,
        &[(":path", "/s/M"), ("authorization", &token), grpc_web],
    );
    envoy.tick(0);
    envoy.answer_root_call(0, CallResponse::default());
    envoy.host.now_ms += 2_000;
    envoy.tick(0);
    let expected = (
        200,
        "14".into(),
        "application/grpc-web".into(),
        String::new(),
    );
    assert_eq!(grpc_reply(&envoy, 2), expected);
}

#[test]
fn a_grpc_call_whose_identity_envoy_will_not_store_gets_internal() {
    let mut envoy = Envoy::new(1);
    envoy.fetch_keys(0);
    envoy.host.refuse_filter_state = true;
    let token = bearer("bob@example.com");
    let grpc = ("content-type", "application/grpc");
    envoy.send(0, 2, &[(":path", "/s/M"), ("authorization", &token), grpc]);
    assert_eq!(grpc_reply(&envoy, 2).1, "13");
}

#[test]
fn a_session_users_token_goes_upstream_and_a_bearer_token_can_be_kept_from_it() {
    let mut config = plugin_config();
    config["forward_token"] = json!({"session": "access_token", "bearer": "strip"});
    config["token_headers"] = json!(["authorization", "flyte-authorization"]);
    let mut envoy = Envoy::configured(1, &config, &|_: &str| None);
    envoy.fetch_keys(0);
    let session = Session {
        forward_token: Some("at-9".into()),
        ..live_session()
    };
    let cookie = session_cookie_for(&session);
    let request = [
        (":path", "/api"),
        ("cookie", cookie.as_str()),
        ("authorization", "Basic dTpw"),
    ];
    assert_eq!(envoy.send(0, 2, &request), Verdict::Continue);
    assert_eq!(
        envoy.host.upstream_header(2, "authorization").as_deref(),
        Some("Bearer at-9")
    );

    let token = bearer("bob@example.com");
    let request = [
        (":path", "/api"),
        ("authorization", token.as_str()),
        ("flyte-authorization", token.as_str()),
    ];
    assert_eq!(envoy.send(0, 3, &request), Verdict::Continue);
    assert_eq!(
        envoy.host.upstream_header(3, "kubeflow-userid").as_deref(),
        Some("bob@example.com")
    );
    assert_eq!(envoy.host.upstream_header(3, "authorization"), None);
    assert_eq!(envoy.host.upstream_header(3, "flyte-authorization"), None);

    // By default the client's bearer token goes on as it came.
    let mut plain = Envoy::new(1);
    plain.fetch_keys(0);
    let request = [(":path", "/api"), ("authorization", token.as_str())];
    assert_eq!(plain.send(0, 2, &request), Verdict::Continue);
    assert_eq!(
        plain.host.upstream_header(2, "authorization").as_deref(),
        Some(token.as_str())
    );
}
