//! A pinned-secret issuer (`extra_issuers[].hs256_secret_env`) in a whole process: ready at
//! configure time, never fetched, and never replaced by what shared data holds.

use serde_json::json;

use super::*;
use crate::core::test_keys::{b64, signing_input};
use crate::filter::host::Host;

const DATAHUB: &str = "datahub-metadata-service";
const SECRET: &str = "a-datahub-token-signing-key-of-48-bytes-00000000";

fn datahub_envoy() -> Envoy {
    let mut config = plugin_config();
    config["extra_issuers"] = json!([{"issuer": DATAHUB, "hs256_secret_env": "DATAHUB_SECRET",
                                      "userid_claim": "actorId"}]);
    let env = |name: &str| (name == "DATAHUB_SECRET").then(|| SECRET.to_string());
    Envoy::configured(2, &config, &env)
}

fn datahub_bearer() -> String {
    use jwt_compact::alg::{Hs256, Hs256Key};
    use jwt_compact::{Algorithm, AlgorithmSignature};
    let claims = json!({"iss": DATAHUB, "actorId": "datahub", "sub": "datahub",
                        "type": "PERSONAL", "version": "2", "jti": "j1",
                        "exp": NOW + 86_400, "iat": NOW});
    let input = signing_input(&json!({"alg": "HS256"}), &claims);
    let tag = Hs256.sign(&Hs256Key::new(SECRET), input.as_bytes());
    format!("Bearer {input}.{}", b64(&tag.as_bytes()))
}

#[test]
fn a_pinned_issuers_token_passes_on_every_worker_before_any_fetch() {
    let mut envoy = datahub_envoy();
    let token = datahub_bearer();
    for (vm, context) in [(0, 2), (1, 3)] {
        let headers = [(":path", "/api"), ("authorization", token.as_str())];
        assert_eq!(envoy.send(vm, context, &headers), Verdict::Continue);
        assert_eq!(
            envoy
                .host
                .upstream_header(context, "kubeflow-userid")
                .as_deref(),
            Some("datahub")
        );
    }
    assert!(envoy.host.calls.is_empty(), "nothing was fetched for it");
}

#[test]
fn only_the_jwks_issuer_is_fetched_and_a_planted_jwks_never_replaces_the_secret() {
    let mut envoy = datahub_envoy();
    envoy.fetch_keys(0);
    for _ in 0..3 {
        envoy.host.now_ms += 700_000; // past jwks_refresh_seconds: every fetch is due again
        envoy.tick(1);
    }
    assert!(
        envoy.host.calls.iter().all(|call| call.cluster == "idp"),
        "{:?}",
        envoy.host.calls
    );
    for name in ["jwks_fetch_ok", "jwks_fetch_failed"] {
        let name = format!("issuer.{DATAHUB}.{name}");
        assert!(envoy.host.defined.contains_key(&name), "{name}");
        assert_eq!(envoy.host.counter(&name), 0);
    }
    // Shared data is writable by every plugin of the process: a JWKS put under the pinned
    // issuer's names is not taken up, so the main IdP's key cannot sign for it.
    let name = format!("oidc-gate.v1|{DATAHUB}|discovery|jwks");
    envoy.host.shared_put(&name, &jwks_body(all_jwks()));
    envoy.tick(0);
    envoy.tick(1);
    let claims = json!({"iss": DATAHUB, "actorId": "mallory", "exp": NOW + 86_400});
    let forged = mint(Alg::Rs256, &json!({"alg": "RS256", "kid": "rsa"}), &claims);
    let authorization = format!("Bearer {forged}");
    let headers = [(":path", "/api"), ("authorization", authorization.as_str())];
    assert_eq!(envoy.send(1, 9, &headers), Verdict::Pause);
    assert_eq!(envoy.host.replies[&9].status, 401);
    assert_eq!(envoy.host.counter("denied.no_key_for_alg"), 1);
    let token = datahub_bearer();
    let headers = [(":path", "/api"), ("authorization", token.as_str())];
    assert_eq!(envoy.send(1, 10, &headers), Verdict::Continue);
}
