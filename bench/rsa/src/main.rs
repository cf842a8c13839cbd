//! Times RSA signature verification for each candidate backend, natively or as wasm32-wasip1
//! inside Node's V8. Candidates run interleaved, round after round, so that load from other
//! processes hits them alike; compare ratios within one run, not absolute numbers across runs.

use std::hint::black_box;
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

mod candidates;

const ROUNDS: usize = 9;
/// Each timed batch runs about this long.
const BATCH_SECONDS: f64 = 0.02;

/// One verification case: a key and a signature over the fixed signing input.
pub struct Case {
    pub name: &'static str,
    pub alg: &'static str,
    pub n: Vec<u8>,
    pub e: Vec<u8>,
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
    let case = |name, alg, key: &str, sig: &str| Case {
        name,
        alg,
        n: decode(&vector[key]["n"]),
        e: decode(&vector[key]["e"]),
        message: message.clone(),
        signature: decode(&vector[key][sig]),
    };
    vec![
        case("RS256 2048", "RS256", "rsa2048", "rs256"),
        case("PS256 2048", "PS256", "rsa2048", "ps256"),
        case("RS256 4096", "RS256", "rsa4096", "rs256"),
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
            case.name
        );
        let mut bad = case.signature.clone();
        bad[17] ^= 0x10;
        assert!(
            !(p.verify)(&case.message, &bad),
            "{} accepts a bad {}",
            p.candidate,
            case.name
        );
    }
    prepared.sort_by_key(|p| p.candidate);
    prepared
}

/// Iterations that take about `BATCH_SECONDS`.
fn calibrate(p: &Prepared, case: &Case) -> usize {
    let start = Instant::now();
    let mut iterations = 0;
    while start.elapsed().as_secs_f64() < BATCH_SECONDS {
        black_box((p.verify)(
            black_box(&case.message),
            black_box(&case.signature),
        ));
        iterations += 1;
    }
    iterations.max(3)
}

fn time_batch(p: &Prepared, case: &Case, iterations: usize) -> f64 {
    let start = Instant::now();
    for _ in 0..iterations {
        black_box((p.verify)(
            black_box(&case.message),
            black_box(&case.signature),
        ));
    }
    start.elapsed().as_secs_f64() * 1e6 / iterations as f64
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let platform = if cfg!(target_arch = "wasm32") {
        "wasm32 (V8)"
    } else {
        "native"
    };
    println!("# RSA verify, {platform}: µs per verification; {ROUNDS} interleaved rounds");
    println!(
        "| case | candidate | median µs | best µs | ×faster than rsa 0.9 (median) | key setup µs |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    // An optional argument keeps only the candidates whose name contains it.
    let filter = std::env::args().nth(1).unwrap_or_default();
    // One untimed pass first: in V8 the first allocations grow linear memory, which would
    // otherwise land in the first case's key set-up times.
    drop(
        cases()
            .iter()
            .map(|case| prepare(case, &filter))
            .collect::<Vec<_>>(),
    );
    for case in cases() {
        let prepared = prepare(&case, &filter);
        let iterations: Vec<usize> = prepared.iter().map(|p| calibrate(p, &case)).collect();
        let mut samples = vec![Vec::new(); prepared.len()];
        for _ in 0..ROUNDS {
            for (i, p) in prepared.iter().enumerate() {
                samples[i].push(time_batch(p, &case, iterations[i]));
            }
        }
        let medians: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
        let baseline = prepared
            .iter()
            .position(|p| p.candidate.starts_with("rsa 0.9"))
            .map(|i| medians[i]);
        for (i, p) in prepared.iter().enumerate() {
            let best = samples[i].iter().copied().fold(f64::INFINITY, f64::min);
            let ratio = baseline.map_or("–".to_owned(), |b| format!("{:.1}", b / medians[i]));
            println!(
                "| {} | {} | {:.1} | {:.1} | {} | {:.0} |",
                case.name, p.candidate, medians[i], best, ratio, p.setup_micros
            );
        }
    }
}
