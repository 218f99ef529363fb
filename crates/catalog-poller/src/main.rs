//! `catalog-poller`: start and follow catalog polls from a shell (see `--help`).

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    catalog_poller::cli::run(catalog_poller::cli::Cli::parse()).await
}
