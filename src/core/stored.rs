//! Values kept in Envoy's shared data as JSON. Shared data is writable by every plugin of the
//! process, so bytes that do not read back (another plugin, another version, nothing yet)
//! read as the empty value.

use serde::de::DeserializeOwned;
use serde::Serialize;

pub fn decode<T: DeserializeOwned + Default>(bytes: Option<&[u8]>) -> T {
    bytes
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or_default()
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}
