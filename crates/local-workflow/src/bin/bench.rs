//! `make bench`: prints the release binaries' figures next to the echo floor's, the
//! dependencies' own times, the cost per catalog and the targets (see
//! `local_workflow::demo_support::bench`). Exits 0 when every target is met, 1 when one is
//! not, 2 when the bench could not measure.

use std::process::ExitCode;
use std::sync::Arc;

use local_workflow::demo_support::bench::{self, BenchOptions};
use local_workflow::demo_support::demo;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let say: demo::Say = Arc::new(|line: &str| eprintln!("bench: {line}"));
    let options = BenchOptions::default();
    let report = runtime.block_on(async {
        tokio::select! {
            report = bench::run(&options, say) => Some(report),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    match report {
        None => {
            eprintln!("bench: interrupted; everything it started has been stopped");
            ExitCode::from(130)
        }
        Some(Err(error)) => {
            eprintln!("bench: could not measure: {error}");
            if matches!(error, bench::BenchError::Missing(_)) {
                eprintln!("bench: run `make tools` (bash scripts/install-tools.sh) from the repository root");
            }
            ExitCode::from(2)
        }
        Some(Ok(report)) => {
            print!("{}", report.render());
            if report.all_pass() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
