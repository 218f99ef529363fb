//! `make demo`: one real poll of the catalog poller on this machine (see
//! `local_workflow::demo_support::demo`). Exits 0 when the execution succeeded and the
//! row was written, 1 when it did not, 2 when the demo could not run; ctrl-c stops it and
//! everything it started.

use std::process::ExitCode;
use std::sync::Arc;

use local_workflow::demo_support::demo::{self, DemoOptions};

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let options = DemoOptions::from_env();
    let say: demo::Say = Arc::new(|line: &str| println!("{line}"));
    let outcome = runtime.block_on(async {
        tokio::select! {
            outcome = demo::run(&options, say) => Some(outcome),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    match outcome {
        None => {
            eprintln!("demo: interrupted; everything it started has been stopped");
            ExitCode::from(130)
        }
        Some(Err(error)) => {
            eprintln!("demo: could not run: {error}");
            if let Some(hint) = error.hint() {
                eprintln!("demo: {hint}");
            }
            ExitCode::from(2)
        }
        Some(Ok(outcome)) => {
            for line in demo::summary_lines(&outcome) {
                println!("{line}");
            }
            if outcome.succeeded() {
                println!("\ndemo: OK");
                ExitCode::SUCCESS
            } else {
                println!("\ndemo: the execution did not write the catalog's names");
                ExitCode::FAILURE
            }
        }
    }
}
