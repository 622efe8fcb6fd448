//! Fetch a repository into a clone cache and resolve a revision, printing the commit: what
//! the Source stage does, on its own, for benchmarks (`docs/benchmarks.md`).
//!
//! `cargo run --release -p driftless-source --example fetch -- URL CACHE_DIR [REV]`

use driftless_source::{Auth, Source};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(cache)) = (args.first(), args.get(1)) else {
        eprintln!("usage: fetch URL CACHE_DIR [REV]");
        return std::process::ExitCode::from(2);
    };
    let revision = args.get(2).map_or("HEAD", String::as_str);
    let result = Source::new(cache).fetch(url, &Auth::default()).and_then(|repo| repo.resolve(revision));
    match result {
        Ok(resolved) => {
            println!("{} {}", resolved.commit, resolved.revision);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(3)
        }
    }
}
