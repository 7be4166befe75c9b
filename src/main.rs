use std::process::ExitCode;

use clap::Parser;

mod cli;

// Parsing and analysis allocate many small strings and nodes; mimalloc serves them faster than
// the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ExitCode::from(cli::run(cli::Cli::parse()))
}
