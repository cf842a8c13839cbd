"""`oidc-gate-check --from-oidc-authservice` / `--from-oauth2-proxy` on the settings the two
migration guides quote (tests/fixtures/migrate/, checked against the guides' code blocks): the
printed configuration is the guide's, passes the filter's own check and decides sample requests
as intended, and every setting a guide's tables say is gone is reported as not carried over,
while every reported setting is explained in its guide."""

import base64
import json
import re
import subprocess

import pytest
import yaml

from support import REPO
from support.deploy import check_binary, check_config

FIXTURES = REPO / "tests" / "fixtures" / "migrate"
DOCS = REPO / "docs"

CASES = {
    "oidc-authservice": ("--from-oidc-authservice", "authservice-kubeflow.env",
                         "migrate-from-oidc-authservice.md"),
    "oauth2-proxy": ("--from-oauth2-proxy", "oauth2-proxy-kubeflow.cfg",
                     "migrate-from-oauth2-proxy.md"),
}

ENV = {"OIDC_CLIENT_SECRET": "not-the-real-secret",
       "OIDC_SESSION_KEYS": base64.b64encode(bytes(range(32))).decode()}


def convert(flag: str, path) -> subprocess.CompletedProcess:
    return subprocess.run([str(check_binary()), flag, str(path)], capture_output=True, text=True,
                          timeout=30)


def example_blocks(guide: str) -> tuple[str, dict]:
    """The settings file and the plugin configuration quoted in the guide's Example section."""
    example = guide[guide.index("## Example"):]
    blocks = re.findall(r"```[a-z]*\n(.*?)```", example, re.S)
    return blocks[0], yaml.safe_load(blocks[1])


def gone_in_tables(guide: str) -> set[str]:
    """Settings whose row in the guide's tables maps to nothing (`—`)."""
    names = set()
    for line in guide.splitlines():
        cells = [c.strip() for c in line.replace("\\|", "").split("|")]
        if len(cells) > 3 and cells[2].startswith("—"):
            names.update(re.findall(r"`([A-Za-z_][A-Za-z0-9_-]*)", cells[1]))
    return names


def reported(stderr: str, kind: str) -> list[str]:
    return [line[len(kind) + 1:] for line in stderr.splitlines() if line.startswith(kind + " ")]


def settings_in(text: str) -> set[str]:
    return set(re.findall(r"^([A-Za-z_]+)\s*=", text, re.M))


@pytest.mark.parametrize("case", CASES)
def test_the_guides_example_converts_to_the_guides_configuration(case):
    flag, fixture, guide_name = CASES[case]
    guide = (DOCS / guide_name).read_text()
    quoted, expected = example_blocks(guide)
    settings = (FIXTURES / fixture).read_text()
    # The fixture holds the settings the guide quotes, every line of them.
    assert [l for l in quoted.splitlines() if l.strip()] == \
        [l for l in settings.splitlines() if l.strip()]
    out = convert(flag, FIXTURES / fixture)
    assert out.returncode == 0, out.stderr
    config = json.loads(out.stdout)
    # The guide shows the client id from Kubeflow's Secret; the file has none, so a placeholder.
    assert config.pop("client_id") == "REPLACE-WITH-CLIENT-ID"
    assert any(l.startswith("client_id: ") for l in reported(out.stderr, "check"))
    expected.pop("client_id")
    assert config == expected


@pytest.mark.parametrize("case", CASES)
def test_the_converted_configuration_passes_the_filters_check(case):
    flag, fixture, _ = CASES[case]
    out = convert(flag, FIXTURES / fixture)
    requests = ["GET https://kubeflow.example.com/dex/auth",
                "GET https://kubeflow.example.com/pipeline/",
                "POST https://kubeflow.example.com/ml_metadata.MetadataStoreService/GetArtifacts"]
    ok, message = check_config(out.stdout, env=ENV,
                               args=[arg for r in requests for arg in ("--request", r)])
    assert ok, message
    lines = message.splitlines()
    assert lines[0] == "ok"
    assert lines[1].endswith("-> allow (skip_auth_paths[0])")
    assert lines[2].endswith("-> authenticate (no rule)")
    if case == "oauth2-proxy":
        # api_routes "^/ml_metadata": never a login redirect there.
        assert lines[3].endswith("-> authenticate (rules[2])")
    # Without the variables it names, the filter refuses it: no secret was inlined.
    ok, message = check_config(out.stdout, env={})
    assert not ok and "client_secret_env" in message
    assert set(re.findall(r"^set (\w+):", out.stderr, re.M)) == set(ENV)


@pytest.mark.parametrize("case", CASES)
def test_what_does_not_carry_over_is_reported_and_explained(case):
    flag, fixture, guide_name = CASES[case]
    guide = (DOCS / guide_name).read_text()
    out = convert(flag, FIXTURES / fixture)
    not_carried = {item.split()[0].rstrip(":") for item in reported(out.stderr, "not carried over")}
    gone = gone_in_tables(guide) & settings_in((FIXTURES / fixture).read_text())
    assert gone, "the guide's tables name settings of the example as gone"
    assert gone <= not_carried, gone - not_carried
    unexplained = {name for name in not_carried if f"`{name}" not in guide}
    assert not unexplained, unexplained
    if case == "oidc-authservice":
        # Service-account tokens: on by default in authservice, an extra_issuers entry here.
        assert "KUBERNETES_AUTHN_ENABLED" in not_carried


def test_a_secret_in_the_input_is_named_never_printed(tmp_path):
    cfg = tmp_path / "oauth2_proxy.cfg"
    cfg.write_text('provider = "oidc"\noidc_issuer_url = "https://idp.example"\n'
                   'client_id = "kf"\nclient_secret = "s3cret-value"\n'
                   'cookie_secret = "c00kie-secret"\n'
                   'skip_auth_routes = ["GET=^/favicon", "^/(a|b)/"]\n')
    out = convert("--from-oauth2-proxy", cfg)
    assert out.returncode == 0, out.stderr
    assert "s3cret-value" not in out.stdout + out.stderr
    assert "c00kie-secret" not in out.stdout + out.stderr
    config = json.loads(out.stdout)
    assert config["client_id"] == "kf"
    assert config["rules"] == [{"path_glob": "/favicon*/**", "methods": ["GET"], "action": "allow"}]
    not_carried = reported(out.stderr, "not carried over")
    assert any(l.startswith('skip_auth_routes "^/(a|b)/": ') and "one reading of the path" in l
               for l in not_carried), not_carried


def test_unreadable_input_exits_2(tmp_path):
    assert convert("--from-oidc-authservice", tmp_path / "missing.env").returncode == 2
    bad = tmp_path / "bad.cfg"
    bad.write_text("[section]\nkey = 1\n")
    out = convert("--from-oauth2-proxy", bad)
    assert out.returncode == 2 and "line 1: tables" in out.stderr
    out = subprocess.run([str(check_binary()), "--from-oauth2-proxy"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 2 and "usage" in out.stderr
