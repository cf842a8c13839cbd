use super::*;

fn rule(label: &str, path: Option<PathPattern>, action: Action) -> Rule {
    Rule {
        label: label.into(),
        hosts: Vec::new(),
        path,
        methods: Vec::new(),
        action,
    }
}

fn prefix(p: &str) -> Option<PathPattern> {
    Some(PathPattern::Prefix(p.into()))
}

fn glob(p: &str) -> Option<PathPattern> {
    Some(PathPattern::Glob(
        p[1..].split('/').map(String::from).collect(),
    ))
}

fn groups(list: &[&str]) -> Action {
    Action::Authenticate(Requirements {
        groups_allowlist: Some(list.iter().map(|g| g.to_string()).collect()),
        ..Requirements::default()
    })
}

fn request(method: &str, authority: &str, path: &str) -> Request {
    Request {
        method: method.into(),
        authority: authority.into(),
        path: path.into(),
        ..Request::default()
    }
}

/// The policy for a GET of `path`, as (kind, rule labels).
fn outcome(rules: &Rules, req: &Request) -> (String, Vec<String>) {
    let mut picked = Picked::new();
    let label = |i: usize| rules.rules[i].label.clone();
    match rules.evaluate(req, &mut picked) {
        Policy::Allow { rule } => ("allow".into(), vec![label(rule)]),
        Policy::Deny { rule } => ("deny".into(), vec![label(rule)]),
        Policy::Authenticate { rules } => (
            "authenticate".into(),
            rules.iter().map(|&i| label(i)).collect(),
        ),
    }
}

fn get(rules: &Rules, path: &str) -> (String, Vec<String>) {
    outcome(rules, &request("GET", "gate.example.com", path))
}

fn kubeflow() -> Rules {
    Rules {
        rules: vec![
            rule("deny-admin", prefix("/public/admin"), Action::Deny),
            rule("public", prefix("/public"), Action::Allow),
            rule("assets", glob("/static/**/*.bundle.js"), Action::Allow),
            rule("favicon", glob("/favicon*"), Action::Allow),
            rule("pipelines", prefix("/pipeline"), groups(&["ml"])),
            rule(
                "metrics",
                Some(PathPattern::Exact("/metrics".into())),
                Action::Deny,
            ),
        ],
    }
}

fn says(kind: &str, labels: &[&str]) -> (String, Vec<String>) {
    (kind.into(), labels.iter().map(|l| l.to_string()).collect())
}

#[test]
fn no_rules_authenticate_everything() {
    assert_eq!(
        get(&Rules::default(), "/anything"),
        says("authenticate", &[])
    );
}

#[test]
fn the_first_matching_rule_wins() {
    let rules = kubeflow();
    assert_eq!(
        get(&rules, "/public/admin/x"),
        says("deny", &["deny-admin"])
    );
    assert_eq!(get(&rules, "/public/adminx"), says("allow", &["public"]));
    assert_eq!(get(&rules, "/public"), says("allow", &["public"]));
    assert_eq!(get(&rules, "/publicity"), says("authenticate", &[]));
    assert_eq!(
        get(&rules, "/pipeline/runs"),
        says("authenticate", &["pipelines"])
    );
    assert_eq!(get(&rules, "/metrics"), says("deny", &["metrics"]));
    assert_eq!(get(&rules, "/metrics/x"), says("authenticate", &[]));
    assert_eq!(get(&rules, "/metrics?x=1"), says("deny", &["metrics"]));
}

#[test]
fn globs_match_within_a_segment_and_across_segments() {
    let rules = kubeflow();
    for allowed in [
        "/static/app.bundle.js",
        "/static/a/b/c/app.bundle.js",
        "/favicon.ico",
        "/favicon",
    ] {
        assert_eq!(
            get(&rules, allowed),
            says("allow", &[allowed_label(allowed)]),
            "{allowed}"
        );
    }
    for checked in [
        "/static/app.bundle.js/x",
        "/static/app.bundle.jsx",
        "/favicon/x.ico",
        "/x/favicon.ico",
    ] {
        assert_eq!(get(&rules, checked), says("authenticate", &[]), "{checked}");
    }
}

fn allowed_label(path: &str) -> &'static str {
    if path.starts_with("/static") {
        "assets"
    } else {
        "favicon"
    }
}

#[test]
fn a_path_read_differently_by_some_upstreams_must_pass_every_rule_it_could_hit() {
    let rules = kubeflow();
    // Servlet containers read /public/..;/pipeline/x as /pipeline/x.
    assert_eq!(
        get(&rules, "/public/..;/pipeline/x"),
        says("authenticate", &["pipelines"])
    );
    // Decoding upstreams read %61dmin as admin: the deny applies.
    assert_eq!(
        get(&rules, "/public/%61dmin"),
        says("deny", &["deny-admin"])
    );
    assert_eq!(
        get(&rules, "/public/x/..;/admin"),
        says("deny", &["deny-admin"])
    );
    // An allow needs every reading to agree.
    assert_eq!(
        get(&rules, "/public/..;/static/a.bundle.js"),
        says("allow", &["public"])
    );
}

#[test]
fn a_path_the_readings_cannot_settle_may_hit_every_rule() {
    let rules = kubeflow();
    // An escaped slash: some upstreams see /public/admin.
    assert_eq!(
        get(&rules, "/public%2fadmin"),
        says("deny", &["deny-admin"])
    );
    let no_deny = Rules {
        rules: rules.rules[1..5].to_vec(),
    };
    assert_eq!(
        get(&no_deny, "/pipeline%2fruns"),
        says("authenticate", &["pipelines"])
    );
}

#[test]
fn hosts_match_exactly_or_by_suffix_ignoring_case_port_and_trailing_dot() {
    let mut api = rule("api", None, groups(&["api"]));
    api.hosts = vec![
        HostPattern::Exact("api.example.com".into()),
        HostPattern::Subdomains(".apps.example.com".into()),
    ];
    let rules = Rules { rules: vec![api] };
    for host in [
        "api.example.com",
        "API.Example.com:8443",
        "api.example.com.",
        "nb.apps.example.com",
        "a.b.apps.example.com:80",
    ] {
        let r = request("GET", host, "/x");
        assert_eq!(
            outcome(&rules, &r),
            says("authenticate", &["api"]),
            "{host}"
        );
    }
    for host in [
        "apps.example.com",
        "xapi.example.com",
        "api.example.com.evil",
        "[::1]:80",
    ] {
        let r = request("GET", host, "/x");
        assert_eq!(outcome(&rules, &r), says("authenticate", &[]), "{host}");
    }
}

#[test]
fn methods_compare_case_insensitively_and_get_covers_head() {
    let mut deny_get = rule("no-get", prefix("/x"), Action::Deny);
    deny_get.methods = vec!["GET".into()];
    let rules = Rules {
        rules: vec![deny_get],
    };
    for method in ["GET", "get", "HEAD", "head"] {
        let r = request(method, "h", "/x");
        assert_eq!(outcome(&rules, &r).0, "deny", "{method}");
    }
    let r = request("POST", "h", "/x");
    assert_eq!(outcome(&rules, &r).0, "authenticate");
}

#[test]
fn requirements_check_groups_scopes_and_claims_of_every_rule_picked() {
    let strict = Action::Authenticate(Requirements {
        groups_allowlist: Some(vec!["ml".into()]),
        required_scopes: vec!["pipelines".into()],
        required_claims: vec![ClaimRequirement {
            claim: "realm_access.roles".into(),
            accepted: vec!["admin".into(), "editor".into()],
        }],
        unauthenticated: Unauthenticated::Refuse,
    });
    let rules = Rules {
        rules: vec![rule("strict", None, strict)],
    };
    let grants = |scopes: &[&str], roles: &[&str]| Grants {
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        claims: vec![(
            "realm_access.roles".into(),
            roles.iter().map(|s| s.to_string()).collect(),
        )],
    };
    let ml = vec!["ml".to_string()];
    assert_eq!(
        rules.check(&[0], &ml, &grants(&["openid", "pipelines"], &["editor"])),
        Ok(())
    );
    assert_eq!(
        rules.check(&[0], &["x".into()], &grants(&["pipelines"], &["admin"])),
        Err(Shortfall::Group)
    );
    assert_eq!(
        rules.check(&[0], &ml, &grants(&["openid"], &["admin"])),
        Err(Shortfall::Scope)
    );
    assert_eq!(
        rules.check(&[0], &ml, &grants(&["pipelines"], &["viewer"])),
        Err(Shortfall::Claim)
    );
    assert_eq!(rules.check(&[], &[], &Grants::default()), Ok(()));
    assert_eq!(rules.claim_names(), ["realm_access.roles"]);
    assert_eq!(rules.unauthenticated(&[0]), Unauthenticated::Refuse);
    assert_eq!(rules.unauthenticated(&[]), Unauthenticated::Heuristic);
}
