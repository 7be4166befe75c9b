use std::process::ExitCode;

use clap::Parser;

mod cli;

fn main() -> ExitCode {
    ExitCode::from(cli::run(cli::Cli::parse()))
}
