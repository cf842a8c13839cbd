"""envoy/edge.yaml and envoy/gateway.yaml, the static Envoy configurations users start from.

Each file passes `envoy --mode validate` (which also loads the module and runs the filter's
configuration check) and runs with real Envoy, the test IdP and the echo app: a bearer request
passes with identity headers, a request without credentials gets 401. To run a file on
loopback the test changes only what cannot be the same here: listener and admin addresses,
cluster endpoints (127.0.0.1 ports), the module path, the CA bundle, and `issuer` (the test
IdP's issuer is http://127.0.0.1:<port>). Everything else — filters, failure policy, clusters'
TLS, routes, the rest of the plugin configuration, secrets from Envoy's environment — is the
file as shipped.

edge.yaml reaches its IdP over TLS (SNI and SAN idp.example.com): here a second Envoy with a
certificate from a throwaway CA terminates TLS in front of the test IdP.
"""

from __future__ import annotations

import copy
import datetime
import json

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from support.deploy import ENVOY_DIR, envoy_validate, run_envoy, wasm_plugin_config
from support.envoy import static_cluster
from support.gate import session_key, wait_for_pass
from support.processes import free_port
from support.tokens import claims_for
from support.upstreams import UpstreamWatch

SECRET_ENV = {"OIDC_CLIENT_SECRET": "s3cret", "OIDC_SESSION_KEYS": session_key()}
API = [("Accept", "application/json")]


def load(name: str) -> dict:
    return yaml.safe_load((ENVOY_DIR / name).read_text())


def plugin_json(bootstrap: dict) -> dict:
    config = wasm_plugin_config(bootstrap)["configuration"]
    assert config["@type"] == "type.googleapis.com/google.protobuf.StringValue"
    return json.loads(config["value"])


def with_module(bootstrap: dict, wasm_path) -> dict:
    cfg = copy.deepcopy(bootstrap)
    code = wasm_plugin_config(cfg)["vm_config"]["code"]
    assert set(code) == {"local"}, code
    code["local"]["filename"] = str(wasm_path)
    return cfg


def localize(bootstrap: dict, *, wasm_path, listener_port: int, endpoints: dict[str, int],
             issuer: str, trusted_ca=None) -> dict:
    """The shipped file with only loopback addresses, module path, CA bundle and issuer
    changed (see the module docstring)."""
    cfg = with_module(bootstrap, wasm_path)
    cfg["admin"]["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": 0}
    (listener,) = cfg["static_resources"]["listeners"]
    listener["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": listener_port}
    clusters = cfg["static_resources"]["clusters"]
    assert {c["name"] for c in clusters} == set(endpoints)
    for cluster in clusters:
        for group in cluster["load_assignment"]["endpoints"]:
            for lb in group["lb_endpoints"]:
                lb["endpoint"]["address"]["socket_address"] = {
                    "address": "127.0.0.1", "port_value": endpoints[cluster["name"]]}
        if trusted_ca and "transport_socket" in cluster:
            validation = cluster["transport_socket"]["typed_config"]["common_tls_context"]["validation_context"]
            validation["trusted_ca"] = {"filename": str(trusted_ca)}
    wasm = wasm_plugin_config(cfg)
    plugin = json.loads(wasm["configuration"]["value"])
    plugin["issuer"] = issuer
    wasm["configuration"]["value"] = json.dumps(plugin)
    return cfg


# --- the files as shipped ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["edge.yaml", "gateway.yaml"])
def test_config_is_fail_closed_with_secrets_from_the_environment(name):
    cfg = load(name)
    wasm = wasm_plugin_config(cfg)
    assert wasm["failure_policy"] == "FAIL_CLOSED"
    plugin = plugin_json(cfg)
    assert "client_secret" not in plugin and "session_keys" not in plugin, "secrets inline"
    env_keys = wasm["vm_config"]["environment_variables"]["host_env_keys"]
    assert plugin["client_secret_env"] in env_keys
    assert plugin["session_keys_env"] in env_keys
    assert "key_values" not in wasm["vm_config"]["environment_variables"]
    assert wasm["vm_config"]["runtime"] == "envoy.wasm.runtime.v8"
    names = [f["name"] for f in cfg["static_resources"]["listeners"][0]["filter_chains"][0]
             ["filters"][0]["typed_config"]["http_filters"]]
    assert names == ["envoy.filters.http.wasm", "envoy.filters.http.router"]


@pytest.mark.parametrize("name", ["edge.yaml", "gateway.yaml"])
def test_config_passes_envoy_validate_mode(name, tmp_path, plugin_wasm):
    """Only the module path differs from the shipped file (validate mode loads the module)."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(with_module(load(name), plugin_wasm)))
    res = envoy_validate(path, SECRET_ENV)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"configuration '{path}' OK" in res.stdout + res.stderr
    # Without the secrets in the environment the filter refuses its configuration.
    res = envoy_validate(path, {k: "" for k in SECRET_ENV})
    assert res.returncode != 0
    assert "client_secret_env" in res.stdout + res.stderr


@pytest.mark.parametrize("name", ["edge.yaml", "gateway.yaml"])
def test_config_refuses_header_names_with_underscores(name):
    (listener,) = load(name)["static_resources"]["listeners"]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert hcm["common_http_protocol_options"]["headers_with_underscores_action"] == "REJECT_REQUEST"


# --- running them ----------------------------------------------------------------------------


def tls_material(tmp_path, host: str):
    """A throwaway CA (PEM file) and a server certificate + key (PEM strings) for `host`."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "oidc-gate test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_path = tmp_path / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return ca_path, cert_pem, key_pem


def tls_front(lab, backend_port: int, cert_pem: str, key_pem: str):
    """A plain Envoy terminating TLS on a free port and forwarding to 127.0.0.1:backend_port."""
    port = free_port()
    bootstrap = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [{
                "name": "tls",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                "filter_chains": [{
                    "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                        "common_tls_context": {"tls_certificates": [{
                            "certificate_chain": {"inline_string": cert_pem},
                            "private_key": {"inline_string": key_pem}}]}}},
                    "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "tls_front",
                        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                            {"match": {"prefix": "/"}, "route": {"cluster": "backend"}}]}]},
                        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
                    }}],
                }],
            }],
            "clusters": [static_cluster("backend", backend_port)],
        },
    }
    return run_envoy(lab, bootstrap, port, name="tls-front")


def test_edge_config_passes_a_bearer_request(lab, idp, echo, keys, plugin_wasm, tmp_path):
    shipped = load("edge.yaml")
    client_id = plugin_json(shipped)["client_id"]
    ca_path, cert_pem, key_pem = tls_material(tmp_path, "idp.example.com")
    front = tls_front(lab, idp.port, cert_pem, key_pem)
    port = free_port()
    cfg = localize(shipped, wasm_path=plugin_wasm, listener_port=port, issuer=idp.issuer,
                   endpoints={"app": echo.port, "idp": front.port}, trusted_ca=ca_path)
    edge = run_envoy(lab, cfg, port, env=SECRET_ENV)

    token = keys.mint(claims_for(idp.issuer, aud=client_id))
    seen = wait_for_pass(edge, token).upstream
    assert seen["headers"]["kubeflow-userid"] == "alice@example.com"
    assert seen["headers"]["kubeflow-groups"] == "ml-admin,dev"
    with UpstreamWatch(echo):
        assert edge.request("GET", "/api/x", API + [("kubeflow-userid", "admin")]).status == 401
        # Underscore variants of the identity headers are refused outright.
        assert edge.get("/api/x", token, headers=[("kubeflow_userid", "admin")]).status == 400
    # The keys came over the verified TLS connection (the only way to the IdP).
    stats = edge.stats("cluster.idp.ssl.")
    assert stats.get("cluster.idp.ssl.handshake", 0) >= 1, stats
    assert stats.get("cluster.idp.ssl.fail_verify_san", 0) == 0


def test_gateway_config_passes_a_bearer_request(lab, idp, echo, keys, plugin_wasm):
    shipped = load("gateway.yaml")
    client_id = plugin_json(shipped)["client_id"]
    port = free_port()
    cfg = localize(shipped, wasm_path=plugin_wasm, listener_port=port, issuer=idp.issuer,
                   endpoints={"app": echo.port, "idp": idp.port})
    gw = run_envoy(lab, cfg, port, env=SECRET_ENV)

    token = keys.mint(claims_for(idp.issuer, aud=client_id))
    seen = wait_for_pass(gw, token).upstream
    assert seen["headers"]["kubeflow-userid"] == "alice@example.com"
    with UpstreamWatch(echo):
        assert gw.request("GET", "/api/x", API).status == 401
        # /dex is a skip path: the IdP answers it (here: not found), not the filter.
        before = idp.hit("other")
        r = gw.request("GET", "/dex/theme/styles.css")
        assert r.status != 401 and idp.hit("other") == before + 1, r
        # Normalised before both the filter and the router: no way around auth via /dex/..
        assert gw.request("GET", "/dex/../api/x", API).status == 401
        # Underscore variants of the identity headers are refused outright.
        assert gw.get("/api/x", token, headers=[("kubeflow_userid", "admin")]).status == 400
