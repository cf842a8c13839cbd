//! Opaque bearer tokens in a whole worker: one call per token, the requests that wait for it,
//! and a waiting request that takes over the call when the first one gets no answer.

use serde_json::json;

use super::*;

const OPAQUE: &str = "Bearer Qm9wYXF1ZS10b2tlbi0x";

fn opaque_envoy() -> Envoy {
    let mut config = plugin_config();
    config["opaque_tokens"] = json!({"method": "introspection",
                                     "endpoint": format!("{ISS}/token/introspection")});
    let mut envoy = Envoy::configured(1, &config, &|_: &str| None);
    envoy.fetch_keys(0);
    envoy
}

fn active(email: &str) -> CallResponse {
    ok(json!({"active": true, "sub": "u9", "email": email})
        .to_string()
        .into_bytes())
}

fn introspections(envoy: &Envoy) -> usize {
    let path = |c: &&fake_host::Dispatched| c.header(":path") == Some("/token/introspection");
    envoy.host.calls.iter().filter(path).count()
}

#[test]
fn parallel_requests_with_one_new_token_cost_one_call_and_all_pass() {
    let mut envoy = opaque_envoy();
    for context in [2, 3, 4] {
        let headers = [(":path", "/api"), ("authorization", OPAQUE)];
        assert_eq!(envoy.send(0, context, &headers), Verdict::Pause);
    }
    assert_eq!(introspections(&envoy), 1);
    assert_eq!(envoy.host.last_call().context, 2, "the first request asks");
    envoy.answer_stream_call(0, 2, active("ann@example.com"));
    assert_eq!(envoy.host.resumed, [2]);
    envoy.tick(0);
    assert_eq!(envoy.host.resumed, [2, 3, 4]);
    for context in [2, 3, 4] {
        let user = envoy.host.upstream_header(context, "kubeflow-userid");
        assert_eq!(user.as_deref(), Some("ann@example.com"));
    }
    assert_eq!(introspections(&envoy), 1);
    assert_eq!(envoy.host.counter("opaque_check.active"), 1);
}

#[test]
fn a_waiting_request_asks_itself_when_the_first_call_fails_and_gets_its_own_answer() {
    let mut envoy = opaque_envoy();
    for context in [2, 3] {
        envoy.send(0, context, &[(":path", "/api"), ("authorization", OPAQUE)]);
    }
    envoy.answer_stream_call(0, 2, CallResponse::default());
    assert_eq!(envoy.host.replies[&2].status, 503);
    envoy.tick(0);
    assert_eq!(introspections(&envoy), 2);
    assert_eq!(
        envoy.host.last_call().context,
        3,
        "the waiting request sent it"
    );
    envoy.answer_stream_call(0, 3, active("bob@example.com"));
    let user = envoy.host.upstream_header(3, "kubeflow-userid");
    assert_eq!(user.as_deref(), Some("bob@example.com"));
}

#[test]
fn a_request_that_goes_away_during_its_call_leaves_the_token_to_the_next() {
    let mut envoy = opaque_envoy();
    envoy.send(0, 2, &[(":path", "/api"), ("authorization", OPAQUE)]);
    envoy.hang_up(0, 2);
    envoy.send(0, 3, &[(":path", "/api"), ("authorization", OPAQUE)]);
    assert_eq!(
        introspections(&envoy),
        2,
        "not held behind a call no one awaits"
    );
    assert_eq!(envoy.host.last_call().context, 3);
}

#[test]
fn a_waiting_request_that_asks_itself_keeps_its_body_back_until_the_answer() {
    let mut envoy = opaque_envoy();
    envoy.send(0, 2, &[(":path", "/api"), ("authorization", OPAQUE)]);
    let headers = [
        (":method", "POST"),
        (":path", "/api"),
        ("authorization", OPAQUE),
    ];
    envoy.host.request(3, &headers);
    let mut stream = envoy.vms[0].root.new_stream(3).unwrap();
    assert_eq!(
        stream.on_request_headers(&mut envoy.host, false),
        Verdict::Pause
    );
    envoy.vms[0].streams.insert(3, stream);
    envoy.answer_stream_call(0, 2, CallResponse::default());
    envoy.tick(0);
    assert_eq!(envoy.host.last_call().context, 3, "it asks itself now");
    let stream = envoy.vms[0].streams.get_mut(&3).unwrap();
    assert_eq!(
        stream.on_request_body(&mut envoy.host, 10, false),
        Verdict::Pause
    );
    assert!(envoy.host.resumed.is_empty());
    envoy.answer_stream_call(0, 3, active("bob@example.com"));
    assert_eq!(envoy.host.resumed, [3]);
}
