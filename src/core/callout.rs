//! Where a dispatched call to the IdP goes: an Envoy cluster plus the request pseudo-headers.

use std::collections::BTreeMap;

use super::http_url;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallTarget {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub scheme: &'static str,
}

/// Resolves `url` to a call through `default_cluster`, or through the cluster that
/// `idp_clusters` names for its host[:port]. The cluster, not the URL, decides where bytes go,
/// so a hostile discovery document cannot point the filter at arbitrary hosts.
pub fn target(
    url: &str,
    default_cluster: &str,
    idp_clusters: &BTreeMap<String, String>,
) -> Option<CallTarget> {
    let parsed = http_url::parse(url).ok()?;
    let host = parsed.host.to_ascii_lowercase();
    let authority = match parsed.port {
        Some(port) => format!("{host}:{port}"),
        None => host.clone(),
    };
    let cluster = idp_clusters
        .get(&authority)
        .or_else(|| idp_clusters.get(&host))
        .map_or(default_cluster, String::as_str)
        .to_string();
    let path = match parsed.query {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_string(),
    };
    Some(CallTarget {
        cluster,
        authority,
        path,
        scheme: parsed.scheme,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uses_the_default_cluster_and_the_url_authority() {
        let t = target(
            "http://127.0.0.1:5556/dex/keys?x=1",
            "idp",
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(t.cluster, "idp");
        assert_eq!(t.authority, "127.0.0.1:5556");
        assert_eq!(t.path, "/dex/keys?x=1");
        assert_eq!(t.scheme, "http");
    }

    #[test]
    fn idp_clusters_route_by_host_and_port() {
        let map = BTreeMap::from([
            ("keys.example.com".to_string(), "keys".to_string()),
            ("login.example.com:8443".to_string(), "login".to_string()),
        ]);
        assert_eq!(
            target("https://keys.example.com/k", "idp", &map)
                .unwrap()
                .cluster,
            "keys"
        );
        assert_eq!(
            target("https://login.example.com:8443/t", "idp", &map)
                .unwrap()
                .cluster,
            "login"
        );
        assert_eq!(
            target("https://login.example.com/t", "idp", &map)
                .unwrap()
                .cluster,
            "idp"
        );
    }

    #[test]
    fn refuses_non_http_urls() {
        assert_eq!(target("file:///etc/passwd", "idp", &BTreeMap::new()), None);
        assert_eq!(target("/relative", "idp", &BTreeMap::new()), None);
    }
}
