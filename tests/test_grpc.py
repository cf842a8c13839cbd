"""gRPC through a real Envoy, with a real gRPC client (grpcio) and a gRPC upstream: a refused
call gets a gRPC status (`UNAUTHENTICATED` for what is a 401, `PERMISSION_DENIED` for a
403) with a `grpc-message` ending with the request id, never a redirect or a page; a call with
a valid bearer token reaches the upstream with the identity in its metadata. gRPC-Web clients
read the same status from the response headers."""
from __future__ import annotations

import json
import re
import struct
from concurrent import futures

import grpc
import pytest

from support.gate import gate_config
from support.processes import wait_until

SERVICE = "test.Echo"
ADMIN_SERVICE = "test.Admin"
UNAUTHENTICATED_MESSAGE = "401 Unauthorized: a valid bearer token or session is required"
REQUEST_ID_SUFFIX = re.compile(r" \(request id: ([A-Za-z0-9._-]+)\)$")


def message_and_id(message: str) -> tuple[str, str]:
    """A refusal's `grpc-message`, split into what it says and the request id it ends with (the
    one its log line names); every refusal ends with one, since Envoy gives every request one."""
    found = REQUEST_ID_SUFFIX.search(message)
    assert found, f"no request id at the end of {message!r}"
    return message[:found.start()], found.group(1)


class GrpcUpstream:
    """A gRPC server on 127.0.0.1 whose every method (of `test.Echo` and `test.Admin`)
    answers with the call's metadata as JSON; no generated code, messages are raw bytes."""

    def __init__(self):
        self.calls = 0
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.unary_unary_rpc_method_handler(self._echo)
        for service in (SERVICE, ADMIN_SERVICE):
            self.server.add_generic_rpc_handlers(
                [grpc.method_handlers_generic_handler(service, {"Call": handler})])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _echo(self, request: bytes, context) -> bytes:
        self.calls += 1
        return json.dumps(dict(context.invocation_metadata())).encode()

    def stop(self):
        self.server.stop(grace=None)


@pytest.fixture(scope="module")
def upstream():
    server = GrpcUpstream()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def envoy(module_lab, idp, upstream, plugin_wasm):
    rules = [{"path_prefix": f"/{ADMIN_SERVICE}", "groups_allowlist": ["admins"]}]
    return module_lab.envoy(gate_config(idp, rules=rules), app_port=upstream.port,
                            idp_port=idp.port, wasm_path=plugin_wasm, app_http2=True)


@pytest.fixture(scope="module")
def channel(envoy):
    with grpc.insecure_channel(f"127.0.0.1:{envoy.port}") as channel:
        yield channel


def call(channel, method: str, metadata=(), token: str | None = None):
    """Calls `method` (`/service/Method`) with an empty message; returns the answer's bytes,
    or the grpc.RpcError it failed with."""
    if token is not None:
        metadata = [*metadata, ("authorization", f"Bearer {token}")]
    try:
        return channel.unary_unary(method)(b"", metadata=metadata, timeout=10)
    except grpc.RpcError as error:
        return error


@pytest.fixture(scope="module")
def ready(channel, idp, keys):
    """The filter has its keys: a valid token goes through."""
    token = keys.mint(idp.claims())
    wait_until(lambda: isinstance(call(channel, f"/{SERVICE}/Call", token=token), bytes), 20,
               "a valid token to be accepted")


def trailing(error: grpc.RpcError) -> dict:
    return dict(error.trailing_metadata() or ())


@pytest.mark.parametrize("metadata", [
    [],
    # What makes a browser's request a navigation, as metadata.
    [("accept", "text/html,application/xhtml+xml"), ("sec-fetch-mode", "navigate")],
], ids=["plain", "navigation-hints"])
def test_a_call_without_token_gets_unauthenticated(ready, channel, upstream, metadata):
    before = upstream.calls
    error = call(channel, f"/{SERVICE}/Call", metadata)
    assert isinstance(error, grpc.RpcError), error
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert message_and_id(error.details())[0] == UNAUTHENTICATED_MESSAGE
    assert trailing(error).get("www-authenticate") == "Bearer"
    assert upstream.calls == before


def test_a_refusal_names_the_calls_request_id_as_its_log_line_does(ready, channel, envoy):
    # What an operator needs to find the log line of a caller's failed call.
    request_id = "grpc-call-7f3e9a2c"
    error = call(channel, f"/{SERVICE}/Call", [("x-request-id", request_id)], token="not.a.token")
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert message_and_id(error.details())[1] == request_id
    wait_until(lambda: f"request_id={request_id}" in envoy.logs(), 5, "the refusal's log line")


def test_a_call_with_a_valid_token_reaches_the_upstream_with_the_identity(ready, channel, idp, keys):
    answer = call(channel, f"/{SERVICE}/Call", token=keys.mint(idp.claims()))
    assert isinstance(answer, bytes), answer
    metadata = json.loads(answer)
    assert metadata["kubeflow-userid"] == "alice@example.com"
    assert metadata["kubeflow-groups"] == "ml-admin,dev"


def test_a_user_outside_the_rules_groups_gets_permission_denied(ready, channel, upstream, idp, keys):
    before = upstream.calls
    error = call(channel, f"/{ADMIN_SERVICE}/Call", token=keys.mint(idp.claims()))
    assert isinstance(error, grpc.RpcError), error
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert message_and_id(error.details())[0] == \
        "403 Forbidden: your account is not allowed to use this service"
    admin = keys.mint(idp.claims(groups=["admins"]))
    assert isinstance(call(channel, f"/{ADMIN_SERVICE}/Call", token=admin), bytes)
    assert upstream.calls == before + 1


def test_a_bad_token_gets_unauthenticated_with_the_invalid_token_challenge(ready, channel):
    error = call(channel, f"/{SERVICE}/Call", token="not.a.token")
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert 'error="invalid_token"' in trailing(error)["www-authenticate"]


def test_the_filters_own_endpoints_answer_grpc_calls_with_grpc_statuses(ready, channel):
    # A POST to the login path is a 405 to HTTP clients: an operation it does not offer.
    error = call(channel, "/authservice/login")
    assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    # The login callback without a login flow is a 400 page to a browser.
    error = call(channel, "/authservice/oidc/callback")
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message_and_id(error.details())[0] == "refused by the authentication gateway (HTTP 400)"


def grpc_web_frame(message: bytes) -> bytes:
    """One gRPC-Web data frame: flag 0, 4-byte big-endian length, the message."""
    return struct.pack(">BI", 0, len(message)) + message


@pytest.mark.parametrize("content_type", [
    "application/grpc-web+proto", "application/grpc-web-text"])
def test_grpc_web_calls_read_unauthenticated_from_the_response_headers(ready, envoy, upstream,
                                                                      content_type):
    before = upstream.calls
    r = envoy.request("POST", f"/{SERVICE}/Call", [
        ("Content-Type", content_type), ("X-Grpc-Web", "1"), ("Accept", "text/html")],
        body=grpc_web_frame(b""))
    assert r.status == 200, r
    assert r.header_all("grpc-status") == ["16"], r
    assert message_and_id(r.header("grpc-message"))[0] == UNAUTHENTICATED_MESSAGE
    assert r.body == b"" and r.header("location") is None
    assert upstream.calls == before


@pytest.mark.parametrize("content_type", ["application/grpc", "application/grpc-web"])
def test_a_grpc_request_shaped_like_a_navigation_is_never_redirected(ready, envoy, content_type):
    # A browser's navigation would go to the IdP; a gRPC client cannot follow it there.
    r = envoy.request("GET", f"/{SERVICE}/Call", [
        ("Content-Type", content_type), ("Accept", "text/html"), ("Sec-Fetch-Mode", "navigate")])
    assert r.status == 200 and r.header("location") is None, r
    assert r.header_all("grpc-status") == ["16"], r
    assert r.body == b"", r
    if content_type == "application/grpc":
        assert r.header_all("content-type") == ["application/grpc"], r
