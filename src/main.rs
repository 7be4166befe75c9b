use std::process::ExitCode;

use clap::Parser;

// Messages to stderr never panic: with stderr closed or full (`2>/dev/full`) a message is lost,
// not the run (std's `eprintln!` panics, exit 101). The exit code still tells what happened.
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

macro_rules! eprint {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

mod cli;

// Parsing and analysis allocate many small strings and nodes; mimalloc serves them faster than
// the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A write past the file size limit (`ulimit -f`) fails with EFBIG, which the write path
    // reports and rolls back, instead of killing the process between two files (SIGXFSZ).
    #[cfg(unix)]
    // SAFETY: ignoring a signal installs no handler; nothing else runs yet.
    unsafe {
        use nix::sys::signal::{signal, SigHandler, Signal};
        let _ = signal(Signal::SIGXFSZ, SigHandler::SigIgn);
    }
    let cli = cli::Cli::parse();
    // Without its pool the analysis cannot run: a clear error rather than a panic later.
    if let Err(e) = stackfix::fix::write::start_worker_threads() {
        eprintln!("error: cannot start the worker threads: {e}");
        return ExitCode::from(2);
    }
    ExitCode::from(cli::run(cli))
}
