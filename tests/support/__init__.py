"""Test support for the oidc-gate integration tests: real Envoy, a real OpenID provider and test
upstreams, all on 127.0.0.1 free ports, started and stopped by the tests.

    processes  Proc (a child in its own process group), free_port, wait_until, stop_all
    control    HTTP calls to the control APIs of the test servers
    tokens     KeySet (signing keys, JWKS, signed tokens), raw_token, claims_for
    idp        Idp: the test OpenID provider (tests/idp/idp.mjs)
    serving    the one base of the test HTTP servers, and of their handles in the tests
    upstreams  Echo, StaticServer, WsgiUpstream, PlatformStandIn, AmundsenFrontend handles;
               UpstreamWatch
    envoy      Envoy bootstraps, the Envoy process, Response
    login      the scripted browser and the one driver of the IdP's login form; idp_login
    gate       the filter's configuration and how its answers are checked
    lab        Lab: owns every process of one test scope
    django_idp DjangoIdp: the second real OpenID provider (tests/idp_django, django-oauth-toolkit)

This package holds the paths and the client registration every module shares.
"""

import os
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent
REPO = TESTS_DIR.parent
VENV = REPO / ".venv"
# OIDC_GATE_WASM points the suite at another build (e.g. a debug build) of the plugin.
PLUGIN_WASM = Path(os.environ.get("OIDC_GATE_WASM") or REPO / "dist" / "plugin.wasm")

# The client the test IdP has registered (tests/idp/idp.mjs).
CLIENT_ID = "demo-app"
CLIENT_SECRET = "s3cret"
