use super::*;

fn places(found: &[Found]) -> Vec<Option<&str>> {
    found.iter().map(|f| f.place.as_deref()).collect()
}

fn json_of(found: &Found) -> Value {
    serde_json::from_slice(&found.raw).unwrap()
}

#[test]
fn a_json_configuration_is_checked_byte_for_byte() {
    let raw = b"{\"issuer\": \"https://idp.example.com\", \"issuer\": \"x\"}";
    let found = plugin_configs(raw).unwrap();
    assert_eq!(
        found,
        vec![Found {
            place: None,
            raw: raw.to_vec()
        }]
    );
}

#[test]
fn a_yaml_configuration_reads_as_its_json() {
    let found =
        plugin_configs(b"issuer: https://idp.example.com\nscopes: [openid, email]\n").unwrap();
    assert_eq!(places(&found), [None]);
    assert_eq!(
        json_of(&found[0]),
        serde_json::json!({"issuer": "https://idp.example.com", "scopes": ["openid", "email"]})
    );
}

#[test]
fn each_wasm_plugin_of_a_manifest_is_found_and_other_kinds_are_not() {
    let manifest = b"\
apiVersion: v1
kind: Secret
metadata: {name: s, namespace: auth}
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: oidc-gate, namespace: istio-system}
spec:
  pluginConfig:
    issuer: https://idp.example.com
    idp_cluster: idp
---
kind: WasmPlugin
metadata: {name: empty}
spec: {url: oci://x}
";
    let found = plugin_configs(manifest).unwrap();
    assert_eq!(
        places(&found),
        [
            Some("WasmPlugin istio-system/oidc-gate"),
            Some("WasmPlugin default/empty")
        ]
    );
    assert_eq!(json_of(&found[0])["idp_cluster"], "idp");
    assert_eq!(found[1].raw, b"");
}

#[test]
fn envoy_wasm_filters_are_found_wherever_they_are_nested() {
    let config = serde_json::json!({
        "static_resources": {"listeners": [{"filter_chains": [{"filters": [{"typed_config": {
            "http_filters": [
                {"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
                {"name": "wasm", "typed_config": {"@type": WASM_FILTER_TYPE, "config": {
                    "configuration": {"@type": STRING_VALUE_TYPE, "value": "{\"a\": 1}"}}}},
            ]}}]}]}]},
        "resources": [{"name": "ecds", "typed_config": {"@type": WASM_FILTER_TYPE, "config": {}}}],
    });
    let found = plugin_configs(config.to_string().as_bytes()).unwrap();
    assert_eq!(
        places(&found),
        [
            Some("resources[0].typed_config"),
            Some("static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[1].typed_config"),
        ]
    );
    assert_eq!(found[0].raw, b"");
    assert_eq!(found[1].raw, b"{\"a\": 1}");
}

#[test]
fn a_configuration_of_another_type_is_an_error_naming_its_place() {
    let config = serde_json::json!({"resources": [{"@type": WASM_FILTER_TYPE, "config": {
        "configuration": {"@type": "type.googleapis.com/google.protobuf.Struct", "value": {}}}}]});
    let error = plugin_configs(config.to_string().as_bytes()).unwrap_err();
    assert!(
        error.starts_with("resources[0].config.configuration: not read"),
        "{error}"
    );
}

#[test]
fn a_container_without_a_plugin_or_unreadable_input_is_an_error() {
    let error = plugin_configs(b"kind: Deployment\nmetadata: {name: x}\n").unwrap_err();
    assert!(error.starts_with("no WasmPlugin"), "{error}");
    let error = plugin_configs(b"issuer: [unclosed\n").unwrap_err();
    assert!(error.starts_with("not JSON ("), "{error}");
}
