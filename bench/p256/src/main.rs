//! Times ES256, ES384 and EdDSA signature verification for each candidate, natively or as
//! wasm32-wasip1 inside Node's V8. Candidates run interleaved, round after round, so that load
//! from other processes hits them alike; compare ratios within one run, not across runs.

use std::hint::black_box;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

mod candidates;
mod limbs;

const ROUNDS: usize = 9;
/// Each timed batch runs about this long.
const BATCH_SECONDS: f64 = 0.02;

/// One verification case: a public key (JWK members, decoded) and a signature over the fixed
/// signing input.
pub struct Case {
    pub alg: &'static str,
    pub x: Vec<u8>,
    /// Empty for Ed25519.
    pub y: Vec<u8>,
    pub message: Vec<u8>,
    pub signature: Vec<u8>,
}

/// A candidate prepared for one case: `verify` checks the given signature of the case's message.
pub struct Prepared {
    pub candidate: &'static str,
    pub setup_micros: f64,
    pub verify: Box<dyn Fn(&[u8], &[u8]) -> bool>,
}

fn cases() -> Vec<Case> {
    let vector: serde_json::Value =
        serde_json::from_str(include_str!("../vector.json")).expect("vector.json");
    let decode = |v: &serde_json::Value| {
        URL_SAFE_NO_PAD
            .decode(v.as_str().expect("string"))
            .expect("base64url")
    };
    let message = vector["signing_input"]
        .as_str()
        .expect("signing_input")
        .as_bytes()
        .to_vec();
    vec![
        Case {
            alg: "ES256",
            x: decode(&vector["p256"]["x"]),
            y: decode(&vector["p256"]["y"]),
            message: message.clone(),
            signature: decode(&vector["p256"]["es256"]),
        },
        Case {
            alg: "ES384",
            x: decode(&vector["p384"]["x"]),
            y: decode(&vector["p384"]["y"]),
            message: message.clone(),
            signature: decode(&vector["p384"]["es384"]),
        },
        Case {
            alg: "EdDSA",
            x: decode(&vector["ed25519"]["x"]),
            y: Vec::new(),
            message,
            signature: decode(&vector["ed25519"]["eddsa"]),
        },
    ]
}

/// Prepares every candidate for `case`, checking that each accepts the real signature and
/// rejects a corrupted one before any timing.
fn prepare(case: &Case, filter: &str) -> Vec<Prepared> {
    let mut prepared = candidates::all(case);
    prepared.retain(|p| p.candidate.contains(filter));
    for p in &prepared {
        assert!(
            (p.verify)(&case.message, &case.signature),
            "{} rejects {}",
            p.candidate,
            case.alg
        );
        let mut bad = case.signature.clone();
        bad[17] ^= 0x10;
        assert!(
            !(p.verify)(&case.message, &bad),
            "{} accepts a bad {}",
            p.candidate,
            case.alg
        );
    }
    prepared.sort_by_key(|p| p.candidate);
    prepared
}

/// Runs `f` in batches of about `BATCH_SECONDS`, `ROUNDS` times per function, interleaved;
/// returns (median, best) µs per call of each.
pub fn time_interleaved(functions: &[&dyn Fn()]) -> Vec<(f64, f64)> {
    let iterations: Vec<usize> = functions
        .iter()
        .map(|f| {
            let start = Instant::now();
            let mut iterations = 0;
            while start.elapsed().as_secs_f64() < BATCH_SECONDS {
                f();
                iterations += 1;
            }
            iterations.max(3)
        })
        .collect();
    let mut samples = vec![Vec::new(); functions.len()];
    for _ in 0..ROUNDS {
        for (i, f) in functions.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..iterations[i] {
                f();
            }
            samples[i].push(start.elapsed().as_secs_f64() * 1e6 / iterations[i] as f64);
        }
    }
    samples
        .iter_mut()
        .map(|s| {
            s.sort_by(f64::total_cmp);
            (s[s.len() / 2], s[0])
        })
        .collect()
}

fn main() {
    let platform = if cfg!(target_arch = "wasm32") {
        "wasm32 (V8)"
    } else {
        "native"
    };
    println!(
        "# ES256 / ES384 / EdDSA verify, {platform}: µs per verification; {ROUNDS} interleaved rounds"
    );
    println!("| case | candidate | median µs | best µs | key setup µs |");
    println!("|---|---|---:|---:|---:|");
    // An optional argument keeps only the candidates whose name contains it.
    let filter = std::env::args().nth(1).unwrap_or_default();
    // One untimed pass first: in V8 the first allocations grow linear memory, and our ES256
    // code builds its base-point table on first use.
    for case in cases() {
        for p in prepare(&case, &filter) {
            black_box((p.verify)(&case.message, &case.signature));
        }
    }
    for case in cases() {
        let prepared = prepare(&case, &filter);
        let functions: Vec<Box<dyn Fn()>> = prepared
            .iter()
            .map(|p| {
                let (message, signature) = (&case.message, &case.signature);
                Box::new(move || {
                    black_box((p.verify)(black_box(message), black_box(signature)));
                }) as Box<dyn Fn()>
            })
            .collect();
        let refs: Vec<&dyn Fn()> = functions.iter().map(|f| f.as_ref()).collect();
        for (p, (median, best)) in prepared.iter().zip(time_interleaved(&refs)) {
            println!(
                "| {} | {} | {median:.1} | {best:.1} | {:.0} |",
                case.alg, p.candidate, p.setup_micros
            );
        }
    }
    limbs::report();
}
