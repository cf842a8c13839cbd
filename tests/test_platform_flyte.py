"""Flyte end to end with its own gRPC client: flyteidl's generated stubs (the ones flytekit's
`RawSynchronousFlyteClient` wraps) over HTTP/2 through real Envoy (2 workers) with oidc-gate,
the real test IdP issuing a client-credentials token, and an in-process stand-in for
FlyteAdmin that records the metadata of every call.

As flytekit does it: the client asks the unauthenticated AuthMetadataService which metadata
key carries the token and where the token endpoint is, gets a client-credentials token there
(a JWT for the Flyte resource, no `email`: the user id falls back to `sub`) and calls
AdminService with `flyte-authorization: Bearer <token>`. Without a valid token the call ends
`UNAUTHENTICATED` (gRPC status 16), never a redirect, and FlyteAdmin sees nothing.
"""
from __future__ import annotations

from concurrent import futures

import grpc
import pytest
from authlib.integrations.requests_client import OAuth2Session
from flyteidl.admin import project_pb2
from flyteidl.service import admin_pb2_grpc, auth_pb2, auth_pb2_grpc

from support.gate import gate_config
from support.login import idp_login
from support.processes import wait_until

MACHINE = {"client_id": "flytepropeller", "client_secret": "flyte-machine-secret",
           "resource": "https://flyte.example.com", "scope": "all"}
TOKEN_KEY = "flyte-authorization"
AUTH_METADATA = "/flyteidl.service.AuthMetadataService/"


class FlyteAdmin(admin_pb2_grpc.AdminServiceServicer, auth_pb2_grpc.AuthMetadataServiceServicer):
    """FlyteAdmin's ListProjects and its auth metadata; `calls` holds (method, metadata)."""

    def __init__(self, token_endpoint: str):
        self.token_endpoint = token_endpoint
        self.calls: list[tuple[str, dict]] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        admin_pb2_grpc.add_AdminServiceServicer_to_server(self, self.server)
        auth_pb2_grpc.add_AuthMetadataServiceServicer_to_server(self, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _record(self, method: str, context) -> None:
        self.calls.append((method, dict(context.invocation_metadata())))

    def ListProjects(self, request, context):
        self._record("ListProjects", context)
        return project_pb2.Projects(projects=[project_pb2.Project(id="flytesnacks", name="flytesnacks")])

    def GetPublicClientConfig(self, request, context):
        self._record("GetPublicClientConfig", context)
        return auth_pb2.PublicClientAuthConfigResponse(
            client_id="flytectl", authorization_metadata_key=TOKEN_KEY, scopes=["all"],
            audience=MACHINE["resource"])

    def GetOAuth2Metadata(self, request, context):
        self._record("GetOAuth2Metadata", context)
        return auth_pb2.OAuth2MetadataResponse(token_endpoint=self.token_endpoint,
                                               grant_types_supported=["client_credentials"])

    def stop(self) -> None:
        self.server.stop(grace=None)


@pytest.fixture(scope="module")
def flyte_idp(module_lab, keys):
    return module_lab.idp(keys, config={"machine_client": MACHINE})


@pytest.fixture(scope="module")
def admin(flyte_idp):
    server = FlyteAdmin(f"{flyte_idp.issuer}/token")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def channel(module_lab, flyte_idp, admin, plugin_wasm):
    config = gate_config(
        flyte_idp, token_headers=["authorization", TOKEN_KEY],
        audiences=["demo-app", MACHINE["resource"]],
        userid_claim=["email", "preferred_username", "sub"],
        # Clients learn how to authenticate here, so it answers without a token.
        rules=[{"path_prefix": AUTH_METADATA, "action": "allow"}])
    envoy = module_lab.envoy(config, app_port=admin.port, idp_port=flyte_idp.port,
                             wasm_path=plugin_wasm, app_http2=True)
    with grpc.insecure_channel(f"127.0.0.1:{envoy.port}") as channel:
        yield channel


def client_credentials_token(token_endpoint: str) -> str:
    """What flytekit's client-credentials authenticator fetches."""
    session = OAuth2Session(MACHINE["client_id"], MACHINE["client_secret"], scope=MACHINE["scope"])
    return session.fetch_token(token_endpoint, grant_type="client_credentials")["access_token"]


def list_projects(channel, metadata=()):
    """ListProjects' answer, or the grpc.RpcError it failed with."""
    try:
        return admin_pb2_grpc.AdminServiceStub(channel).ListProjects(
            project_pb2.ProjectListRequest(limit=10), metadata=metadata, timeout=10)
    except grpc.RpcError as error:
        return error


@pytest.fixture(scope="module")
def token(channel, flyte_idp):
    """The client's token, got the way the auth metadata says; the filter has its keys."""
    auth = auth_pb2_grpc.AuthMetadataServiceStub(channel)
    token_endpoint = auth.GetOAuth2Metadata(auth_pb2.OAuth2MetadataRequest(), timeout=10).token_endpoint
    token = client_credentials_token(token_endpoint)
    wait_until(lambda: isinstance(list_projects(channel, [(TOKEN_KEY, f"Bearer {token}")]),
                                  project_pb2.Projects), 20, "the token to be accepted")
    return token


def test_the_auth_metadata_answers_without_a_token_and_without_identity(channel, admin):
    auth = auth_pb2_grpc.AuthMetadataServiceStub(channel)
    config = auth.GetPublicClientConfig(auth_pb2.PublicClientAuthConfigRequest(), timeout=10)
    assert config.authorization_metadata_key == TOKEN_KEY
    method, metadata = admin.calls[-1]
    assert method == "GetPublicClientConfig"
    assert "kubeflow-userid" not in metadata


def test_a_client_credentials_token_lists_projects_as_the_client(channel, admin, token):
    # A forged identity in the metadata, as any client could send it.
    answer = list_projects(channel, [(TOKEN_KEY, f"Bearer {token}"),
                                     ("kubeflow-userid", "admin@example.com")])
    assert [p.id for p in answer.projects] == ["flytesnacks"]
    method, metadata = admin.calls[-1]
    assert method == "ListProjects"
    assert metadata["kubeflow-userid"] == MACHINE["client_id"]
    assert metadata["kubeflow-groups"] == ""


def test_a_users_token_in_the_standard_header_lists_projects_as_the_user(channel, admin, flyte_idp,
                                                                        token):
    id_token = idp_login(flyte_idp, "alice")["id_token"]
    answer = list_projects(channel, [("authorization", f"Bearer {id_token}")])
    assert isinstance(answer, project_pb2.Projects), answer
    assert admin.calls[-1][1]["kubeflow-userid"] == "alice@example.com"


@pytest.mark.parametrize("metadata", [
    [],
    [(TOKEN_KEY, "Bearer not.a.token")],
    # What a browser's navigation would carry: still a gRPC call, never sent to the IdP.
    [("accept", "text/html"), ("sec-fetch-mode", "navigate")],
], ids=["no_token", "bad_token", "navigation_hints"])
def test_without_a_valid_token_the_call_is_unauthenticated_and_flyteadmin_sees_nothing(
        channel, admin, token, metadata):
    before = len(admin.calls)
    error = list_projects(channel, metadata)
    assert isinstance(error, grpc.RpcError), error
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.code().value[0] == 16
    assert "location" not in dict(error.trailing_metadata() or ())
    assert len(admin.calls) == before


def test_a_token_for_another_resource_is_unauthenticated(channel, admin, keys, flyte_idp, token):
    other = keys.mint(flyte_idp.claims(aud="https://other.example.com", email=None,
                                       sub=MACHINE["client_id"]))
    before = len(admin.calls)
    error = list_projects(channel, [(TOKEN_KEY, f"Bearer {other}")])
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert 'error="invalid_token"' in dict(error.trailing_metadata())["www-authenticate"]
    assert len(admin.calls) == before
