"""Invalid plugin configurations make Envoy refuse the filter: `on_configure` returns false
after one log line naming the field, the base VM fails and (FAIL_CLOSED) Envoy exits non-zero
with "Unable to create Wasm plugin". Valid edge cases start."""

import re

import pytest

from support.gate import gate_config

SECRET = "s3cret-must-never-be-logged"


def plugin_errors(log: str) -> list[str]:
    """Lines the plugin itself logged at error level ("wasm log <plugin> <root>: ...")."""
    return [line for line in log.splitlines()
            if "wasm log" in line and re.search(r"\]\[(error|critical)\]", line)]


def refused(start_envoy, config, env=None):
    res = start_envoy(config, expect_failure=True, env=env or {})
    if not res.exited:
        # Still running: it must at least not have accepted the config silently.
        pytest.fail(f"Envoy started with an invalid config; log tail:\n{res.log[-3000:]}")
    assert res.returncode != 0
    return res


CASES = {
    # name: (config overrides, env, substring the error line must contain)
    "missing_issuer": ({"issuer": None}, {}, "issuer"),
    "bad_session_key_base64": ({"session_keys": ["***not base64***"]}, {}, "session_keys"),
    "short_session_key": ({"session_keys": ["c2hvcnQ="]}, {}, "session_keys"),
    "unknown_key_isuer": ({"isuer": "http://127.0.0.1:1"}, {}, "isuer"),
    "client_secret_env_unset": ({"client_secret": None, "client_secret_env": "OIDC_GATE_NO_SUCH_VAR"}, {}, "client_secret_env"),
    "issuer_not_a_url": ({"issuer": "not a url"}, {}, "issuer"),
    "missing_idp_cluster": ({"idp_cluster": None}, {}, "idp_cluster"),
    "idp_timeout_wrong_type": ({"idp_timeout_ms": "fast"}, {}, "idp_timeout_ms"),
    "extra_issuer_without_audiences": ({"extra_issuers": [{"issuer": "https://k8s.example", "cluster": "idp"}]}, {}, "extra_issuers[0].audiences"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_invalid_config_is_refused_naming_the_field(start_envoy, idp, case):
    overrides, env, field = CASES[case]
    res = refused(start_envoy, gate_config(idp, **{"client_secret": SECRET, **overrides}), env)
    errors = plugin_errors(res.log)
    assert len(errors) == 1, f"expected one error line from the plugin, got {errors}"
    assert field in errors[0], errors[0]
    assert SECRET not in res.log


@pytest.mark.parametrize("config", ["", "   ", "{", "[]", "null"])
def test_empty_or_non_object_config_is_refused_clearly(start_envoy, config):
    res = refused(start_envoy, config)
    errors = plugin_errors(res.log)
    assert len(errors) == 1, errors
    assert "configuration" in errors[0] or "issuer" in errors[0], errors[0]


def test_client_secret_from_vm_environment_starts(start_envoy, idp, keys):
    envoy = start_envoy(gate_config(idp, client_secret=None, client_secret_env="OIDC_CLIENT_SECRET"),
                        env={"OIDC_CLIENT_SECRET": "s3cret"})
    assert envoy.proc.alive
    assert "s3cret" not in envoy.logs()
