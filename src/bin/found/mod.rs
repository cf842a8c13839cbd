//! Where the plugin configurations to check are in the file given to `oidc-gate-check`: the
//! file itself (JSON or YAML), the `spec.pluginConfig` of each Istio `WasmPlugin` in a
//! (multi-document) manifest, or the configuration of each Envoy Wasm HTTP filter in an Envoy
//! config (a bootstrap, a config dump, ECDS `TypedExtensionConfig`s), JSON or YAML.

use serde::Deserialize;
use serde_json::Value;

const WASM_FILTER_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";
const STRING_VALUE_TYPE: &str = "type.googleapis.com/google.protobuf.StringValue";

/// One plugin configuration, as the filter will be handed it.
#[derive(Debug, PartialEq, Eq)]
pub struct Found {
    /// Where it is (`WasmPlugin istio-system/oidc-gate`, the path of an Envoy filter); `None`
    /// when the file is the configuration.
    pub place: Option<String>,
    pub raw: Vec<u8>,
}

/// The plugin configurations in `raw`; an error when it is neither JSON nor YAML, or when it is
/// a manifest or Envoy config without one.
pub fn plugin_configs(raw: &[u8]) -> Result<Vec<Found>, String> {
    // JSON as it is, so that the filter's own reading of it is what is checked.
    if raw.iter().all(u8::is_ascii_whitespace) || is_plain_json(raw) {
        return Ok(vec![Found {
            place: None,
            raw: raw.to_vec(),
        }]);
    }
    let documents = documents(raw)?;
    if !documents.iter().any(is_container) {
        let several = documents.len() > 1;
        let place = |index: usize| several.then(|| format!("document {}", index + 1));
        return Ok(documents
            .iter()
            .enumerate()
            .map(|(index, document)| Found {
                place: place(index),
                raw: document.to_string().into_bytes(),
            })
            .collect());
    }
    let mut found = Vec::new();
    for document in &documents {
        wasm_plugin(document, &mut found);
        envoy_filters(document, "", &mut found)?;
    }
    if found.is_empty() {
        return Err("no WasmPlugin and no Envoy Wasm filter (envoy.extensions.filters.http.wasm.v3.Wasm) in it".to_string());
    }
    Ok(found)
}

fn is_plain_json(raw: &[u8]) -> bool {
    serde_json::from_slice::<Value>(raw).is_ok_and(|v| !is_container(&v))
}

/// The documents of a JSON or (multi-document) YAML file; empty YAML documents are left out.
fn documents(raw: &[u8]) -> Result<Vec<Value>, String> {
    let json_error = match serde_json::from_slice(raw) {
        Ok(value) => return Ok(vec![value]),
        Err(e) => e,
    };
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_slice(raw) {
        let value = Value::deserialize(document)
            .map_err(|e| format!("not JSON ({json_error}) nor YAML ({e})"))?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

/// A Kubernetes resource or an Envoy config, rather than a plugin configuration.
fn is_container(document: &Value) -> bool {
    ["kind", "static_resources", "configs", "resources", "@type"]
        .iter()
        .any(|key| document.get(key).is_some())
}

/// An Istio WasmPlugin's `spec.pluginConfig` (none: Istio hands the filter no configuration).
fn wasm_plugin(document: &Value, found: &mut Vec<Found>) {
    if document.get("kind").and_then(Value::as_str) != Some("WasmPlugin") {
        return;
    }
    let metadata = |key: &str| {
        let value = document.pointer(&format!("/metadata/{key}"));
        value
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string()
    };
    let raw = match document.pointer("/spec/pluginConfig") {
        Some(config) if !config.is_null() => config.to_string().into_bytes(),
        _ => Vec::new(),
    };
    let place = format!("WasmPlugin {}/{}", metadata("namespace"), metadata("name"));
    found.push(Found {
        place: Some(place),
        raw,
    });
}

/// Every Envoy Wasm HTTP filter's configuration under `value`, wherever it is nested.
fn envoy_filters(value: &Value, path: &str, found: &mut Vec<Found>) -> Result<(), String> {
    match value {
        Value::Object(map)
            if map.get("@type").and_then(Value::as_str) == Some(WASM_FILTER_TYPE) =>
        {
            found.push(Found {
                place: Some(path.trim_start_matches('.').to_string()),
                raw: wasm_configuration(value, path)?,
            });
        }
        Value::Object(map) => {
            for (key, child) in map {
                envoy_filters(child, &format!("{path}.{key}"), found)?;
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                envoy_filters(child, &format!("{path}[{index}]"), found)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A Wasm filter's `config.configuration`: the string of a `google.protobuf.StringValue`
/// (none: the filter gets an empty configuration).
fn wasm_configuration(filter: &Value, path: &str) -> Result<Vec<u8>, String> {
    let Some(configuration) = filter.pointer("/config/configuration") else {
        return Ok(Vec::new());
    };
    match (configuration.get("@type").and_then(Value::as_str), configuration.get("value")) {
        (Some(STRING_VALUE_TYPE), Some(Value::String(value))) => Ok(value.clone().into_bytes()),
        (Some(STRING_VALUE_TYPE), None) => Ok(Vec::new()),
        _ => Err(format!(
            "{}.config.configuration: not read (oidc-gate takes its configuration as a {STRING_VALUE_TYPE} holding JSON)",
            path.trim_start_matches('.')
        )),
    }
}

#[cfg(test)]
mod tests;
