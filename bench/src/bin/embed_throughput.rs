//! Sentence-embedding throughput of sigil-local's all-MiniLM-L6-v2 (Rust BERT forward).
//!
//! Usage: embed_throughput SENTENCES_FILE [MODEL_DIR] [RUNS]
//!
//! Embeds every line of SENTENCES_FILE (texts past the 256-token window are truncated,
//! as sentence-transformers does) once to warm up, then RUNS times (default 3), and
//! prints one JSON line: {"engine", "sentences", "runs", "best_s", "median_s",
//! "sentences_per_s" (from the median), "kernel", "threads"}. MODEL_DIR defaults to the
//! standard resolution (cache, hub, pip). Threads: RAYON_NUM_THREADS, else all cores.

use std::time::Instant;

use sigil_local::embed::{MiniLm, Truncation, resolve_minilm};

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        return Err("usage: embed_throughput SENTENCES_FILE [MODEL_DIR] [RUNS]".into());
    };
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let sentences: Vec<String> = text.lines().map(str::to_string).collect();
    if sentences.is_empty() {
        return Err(format!("{file} has no sentences").into());
    }
    let dir = match args.get(1).filter(|s| !s.is_empty()) {
        Some(d) => std::path::PathBuf::from(d),
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(resolve_minilm(None, None))?,
    };
    let runs: usize = match args.get(2) {
        Some(r) => r
            .parse()
            .map_err(|_| format!("RUNS must be a number, got {r:?}"))?,
        None => 3,
    };
    let model = MiniLm::load(&dir)?.with_truncation(Truncation::Truncate);

    let warm = model.embed(&sentences)?;
    assert_eq!(warm.len(), sentences.len());
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        let v = model.embed(&sentences)?;
        times.push(t.elapsed().as_secs_f64());
        std::hint::black_box(v);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "{}",
        serde_json::json!({
            "engine": "sigil-local",
            "sentences": sentences.len(),
            "runs": times.len(),
            "best_s": times[0],
            "median_s": median,
            "sentences_per_s": sentences.len() as f64 / median,
            "kernel": model.kernel(),
            "threads": rayon_threads(),
        })
    );
    Ok(())
}

fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
