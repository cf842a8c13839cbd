//! Pure logic: no host calls, no `proxy_wasm` import; time and keys are passed in.

pub mod callout;
pub mod claims;
pub mod cookies;
pub mod decide;
pub mod discovery;
pub mod ec;
pub mod flow;
pub mod grpc;
pub mod header_map;
pub mod header_names;
pub mod hs256;
pub mod http_url;
pub mod identity;
pub mod jwks;
pub mod jwt;
pub mod key_fetch;
pub mod login;
pub mod logout_token;
pub mod metrics;
pub mod opaque;
pub mod p256;
pub mod p384;
pub mod paths;
pub mod policy;
pub mod reasons;
pub mod refresh_board;
pub mod refusal;
pub mod revocation;
pub mod rsa;
pub mod session;
pub mod stored;
#[cfg(test)]
pub(crate) mod test_keys;
pub mod token_cache;
