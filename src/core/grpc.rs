//! gRPC's view of a refusal. A gRPC client reads the outcome of a call from `grpc-status` and
//! `grpc-message`, never from the HTTP status, and cannot follow a redirect or show a page: a
//! refusal must reach it as a trailers-only response (the gRPC over HTTP/2 protocol,
//! grpc/grpc `doc/PROTOCOL-HTTP2.md`; gRPC-Web carries the same in its response headers,
//! `doc/PROTOCOL-WEB.md`).

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// How a request speaks gRPC, from its `content-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `application/grpc`, `application/grpc+proto`, `+json`, …
    Grpc,
    /// `application/grpc-web`, `application/grpc-web+proto`, …
    Web,
    /// `application/grpc-web-text` (base64 frames), with or without a `+` format.
    WebText,
}

impl Protocol {
    /// The protocol a `content-type` value names (any case, parameters ignored); `None` for
    /// anything else.
    pub fn of_content_type(value: &[u8]) -> Option<Protocol> {
        let media_type = value.split(|&b| b == b';').next().unwrap_or_default();
        let media_type = media_type.trim_ascii().to_ascii_lowercase();
        let rest = media_type.strip_prefix(b"application/grpc")?;
        // The message format after `+` (`proto`, `json`, custom) changes nothing here.
        match rest.split(|&b| b == b'+').next().unwrap_or_default() {
            b"" => Some(Protocol::Grpc),
            b"-web" => Some(Protocol::Web),
            b"-web-text" => Some(Protocol::WebText),
            _ => None,
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Protocol::Grpc => "application/grpc",
            Protocol::Web => "application/grpc-web",
            Protocol::WebText => "application/grpc-web-text",
        }
    }
}

/// The gRPC status codes (grpc/grpc `doc/statuscodes.md`) of the HTTP statuses the filter
/// answers with. 401, 403, 502 and 503 map as `doc/http-grpc-status-mapping.md` does (and
/// Envoy's own local replies); that document's table is a client's guess at an HTTP error
/// from a hop that does not speak gRPC, so where the filter knows better it says so: its
/// `400` is a malformed request (`INVALID_ARGUMENT`, not `INTERNAL`), its `405` an
/// operation this path does not offer (`UNIMPLEMENTED`), its `500` an internal failure.
const STATUS_CODES: [(u16, u32); 7] = [
    (400, 3),  // INVALID_ARGUMENT
    (401, 16), // UNAUTHENTICATED
    (403, 7),  // PERMISSION_DENIED
    (405, 12), // UNIMPLEMENTED
    (500, 13), // INTERNAL
    (502, 14), // UNAVAILABLE
    (503, 14), // UNAVAILABLE
];

/// Every other status (a redirect, a success of the filter's own endpoints), as the mapping
/// document says.
const UNKNOWN: u32 = 2;

/// The gRPC status code for an HTTP status of the filter.
pub fn status_code(http_status: u16) -> u32 {
    STATUS_CODES
        .iter()
        .find(|(http, _)| *http == http_status)
        .map_or(UNKNOWN, |(_, code)| *code)
}

/// `grpc-message` is percent-encoded: every byte but printable ASCII, and `%` itself
/// (`Percent-Byte-Unencoded` of `doc/PROTOCOL-HTTP2.md`).
const MESSAGE_ESCAPED: &AsciiSet = &CONTROLS.add(b'%');

/// The headers of a trailers-only response refusing a call of `protocol` with `http_status`.
pub fn trailers(
    protocol: Protocol,
    http_status: u16,
    message: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", protocol.content_type().to_string()),
        ("grpc-status", status_code(http_status).to_string()),
        (
            "grpc-message",
            utf8_percent_encode(message, MESSAGE_ESCAPED).to_string(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_and_grpc_web_are_told_apart_by_their_content_type() {
        let cases: [(&[u8], Option<Protocol>); 11] = [
            (b"application/grpc", Some(Protocol::Grpc)),
            (b"application/grpc+proto", Some(Protocol::Grpc)),
            (
                b"Application/GRPC+json; charset=utf-8",
                Some(Protocol::Grpc),
            ),
            (b"application/grpc-web", Some(Protocol::Web)),
            (b"application/grpc-web+proto", Some(Protocol::Web)),
            (b"application/grpc-web-text", Some(Protocol::WebText)),
            (b"application/grpc-web-text+proto", Some(Protocol::WebText)),
            (b"application/grpcx", None),
            (b"application/grpc-webx", None),
            (b"application/json", None),
            (b"text/html, application/grpc", None),
        ];
        for (value, expected) in cases {
            let got = Protocol::of_content_type(value);
            assert_eq!(got, expected, "{}", String::from_utf8_lossy(value));
        }
    }

    #[test]
    fn refusals_map_to_the_grpc_codes_of_the_spec() {
        let table = [
            (400, 3),
            (401, 16),
            (403, 7),
            (405, 12),
            (500, 13),
            (502, 14),
            (503, 14),
            (302, 2),
            (201, 2),
        ];
        for (http, grpc) in table {
            assert_eq!(status_code(http), grpc, "HTTP {http}");
        }
    }

    #[test]
    fn the_message_is_percent_encoded_as_grpc_message_requires() {
        let headers = trailers(Protocol::Grpc, 401, "100% sure: café\r\nx-injected: 1");
        assert_eq!(
            headers,
            vec![
                ("content-type", "application/grpc".to_string()),
                ("grpc-status", "16".to_string()),
                (
                    "grpc-message",
                    "100%25 sure: caf%C3%A9%0D%0Ax-injected: 1".to_string()
                ),
            ]
        );
    }
}
