//! gRPC calls get their refusals as gRPC statuses (`answer::for_grpc`).

use crate::core::decide::Deny;
use crate::core::flow::answer::{denied, error_page, for_grpc, redirect};
use crate::core::flow::{Effect, Reply};
use crate::core::grpc::Protocol;

fn the_reply(effects: Vec<Effect>) -> Reply {
    effects
        .into_iter()
        .find_map(|e| match e {
            Effect::Reply(reply) => Some(reply),
            _ => None,
        })
        .unwrap()
}

fn header<'a>(reply: &'a Reply, name: &str) -> Vec<&'a str> {
    let named = reply.headers.iter().filter(|(n, _)| *n == name);
    named.map(|(_, v)| v.as_str()).collect()
}

#[test]
fn a_refusal_becomes_a_trailers_only_grpc_response_with_its_challenge() {
    let deny = Deny {
        status: 401,
        reason: "no_credential",
        www_authenticate: Some("Bearer"),
    };
    let reply = for_grpc(the_reply(denied(&deny, Vec::new())), Protocol::Grpc, None);
    assert_eq!((reply.status, reply.body.as_str()), (200, ""));
    assert_eq!(header(&reply, "content-type"), ["application/grpc"]);
    assert_eq!(header(&reply, "grpc-status"), ["16"]);
    assert_eq!(
        header(&reply, "grpc-message"),
        ["401 Unauthorized: a valid bearer token or session is required"]
    );
    assert_eq!(header(&reply, "www-authenticate"), ["Bearer"]);
    assert_eq!(header(&reply, "cache-control"), ["no-store"]);
}

#[test]
fn pages_and_redirects_become_grpc_errors_without_html_or_location() {
    let clear = ("set-cookie", "authservice_session=; Max-Age=0".to_string());
    let page = error_page(503, "login_unavailable", "<b>down</b>", vec![clear.clone()]);
    let reply = for_grpc(the_reply(page), Protocol::WebText, None);
    assert_eq!((reply.status, reply.body.as_str()), (200, ""));
    assert_eq!(
        header(&reply, "content-type"),
        ["application/grpc-web-text"]
    );
    assert_eq!(header(&reply, "grpc-status"), ["14"]);
    assert_eq!(
        header(&reply, "grpc-message"),
        ["refused by the authentication gateway (HTTP 503)"]
    );
    assert_eq!(header(&reply, "set-cookie"), [clear.1.as_str()]);

    let login = redirect("https://idp.example.com/authorize".into(), vec![]);
    let reply = for_grpc(the_reply(vec![login]), Protocol::Web, None);
    assert_eq!(
        (reply.status, header(&reply, "grpc-status")),
        (200, vec!["2"])
    );
    assert!(header(&reply, "location").is_empty());
}

#[test]
fn grpc_refusals_end_their_message_with_the_request_id() {
    use crate::core::decide::RequestId;
    let id = RequestId::parse(b"abc-123").unwrap();
    let deny = Deny::bad_token("expired");
    let refusal = the_reply(denied(&deny, Vec::new()));
    let reply = for_grpc(refusal, Protocol::Grpc, Some(&id));
    let message = header(&reply, "grpc-message");
    assert_eq!(message.len(), 1);
    assert!(
        message[0].ends_with(" (request id: abc-123)"),
        "{message:?}"
    );
    // An HTML page's message names its status, and the id after it.
    let page = the_reply(error_page(503, "login_unavailable", "<b>down</b>", vec![]));
    let reply = for_grpc(page, Protocol::Web, Some(&id));
    assert_eq!(
        header(&reply, "grpc-message"),
        ["refused by the authentication gateway (HTTP 503) (request id: abc-123)"]
    );
}

#[test]
fn error_pages_and_refusals_name_their_request_and_protocol_bodies_stay_as_they_are() {
    use crate::core::decide::RequestId;
    use crate::core::flow::answer::{reply, with_request_id};
    let id = RequestId::parse(b"abc-123").unwrap();
    let page = the_reply(error_page(400, "bad_host", "Bad host.", vec![]));
    let page = with_request_id(page, &id);
    assert!(
        page.body
            .ends_with("<p>Request id: <code>abc-123</code></p>\n"),
        "{}",
        page.body
    );
    let deny = Deny::bad_token("expired");
    let refusal = with_request_id(the_reply(denied(&deny, Vec::new())), &id);
    assert!(
        refusal.body.ends_with("request id: abc-123\n"),
        "{}",
        refusal.body
    );
    let json = vec![("content-type", "application/json".to_string())];
    let Effect::Reply(protocol) = reply(400, json, "{\"error\":\"invalid_request\"}".into()) else {
        panic!("not a reply")
    };
    assert_eq!(with_request_id(protocol.clone(), &id), protocol);
    let to = redirect("/".into(), vec![]);
    let Effect::Reply(to) = to else {
        panic!("not a reply")
    };
    assert_eq!(with_request_id(to.clone(), &id), to);
}
