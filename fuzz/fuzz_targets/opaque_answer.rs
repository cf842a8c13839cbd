//! The login issuer's answer about an opaque token: `<:status>\n<body>`, read as an
//! introspection answer and as a userinfo answer. A token is live only until a time it can
//! be cached to, and never beyond `cache_seconds`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oidc_gate::config::{Config, OpaqueMethod};
use oidc_gate::core::opaque::{read_answer, Checked};
use oidc_gate_fuzz::{split_line, CONFIG, NOW};

thread_local! {
    static CONFIGS: [Config; 2] = ["introspection", "userinfo"].map(|method| {
        let mut raw: serde_json::Value = serde_json::from_str(CONFIG).expect("valid");
        raw["opaque_tokens"] = serde_json::json!({"method": method, "cache_seconds": 120});
        Config::from_json(raw.to_string().as_bytes(), &|_: &str| None).expect("valid")
    });
}

fuzz_target!(|data: &[u8]| {
    let (status, body) = split_line(data);
    let status = (!status.is_empty()).then_some(status);
    CONFIGS.with(|configs| {
        for config in configs {
            let settings = config.opaque_tokens.as_ref().expect("set");
            match read_answer(config, settings, status, body, NOW) {
                Ok(Checked::Active { until_s, .. }) => {
                    assert!(until_s > NOW && until_s <= NOW + 120);
                    assert!(status == Some(b"200"));
                }
                Ok(Checked::Inactive { until_s }) => {
                    assert_eq!(until_s, NOW + 120);
                    let refused = matches!(status, Some(b"401" | b"403"));
                    assert!(
                        status == Some(b"200")
                            || settings.method == OpaqueMethod::Userinfo && refused
                    );
                }
                Err(_) => {}
            }
        }
    });
});
