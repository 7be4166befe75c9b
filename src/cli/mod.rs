//! The command line: clap types hold what was typed; each subcommand turns them into engine options,
//! runs, prints and returns an exit code. The only module that prints or exits.

mod check;
mod config;
mod rules;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit codes: 0 clean, 1 findings, 2 usage, input or internal error.
pub const EXIT_CLEAN: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "stackfix",
    version,
    about = "Find what infrastructure audits find in docker-compose stacks, and where each fix goes",
    long_about = "stackfix loads a docker-compose stack the way `docker compose` does (base, override and \
production files, include, extends, the files mounted into Prometheus, Alertmanager, Traefik and Redis) and \
reports what audit reports flag: missing limits and health checks, redis without maxmemory, alerts without \
Alertmanager, Traefik without rate limits, missing exporters and backups, secrets in compose files.\n\n\
Exit codes: 0 no findings, 1 findings, 2 usage or input error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyse a stack and report findings
    Check(CheckArgs),
    /// List the rules, or explain one
    Rules(RulesArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `path:line:col: rule: message`
    Text,
    /// An object with a `findings` array
    Json,
    /// SARIF 2.1.0 for GitHub code scanning
    Sarif,
    /// GitHub Actions workflow annotations
    Github,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Project directory (default: the current directory)
    pub dir: Option<PathBuf>,
    /// Compose file to load, in order, like `docker compose -f` (repeatable)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Only run these rules (comma-separated or repeated)
    #[arg(long, value_delimiter = ',', value_name = "RULE")]
    pub select: Vec<String>,
    /// Do not run these rules (comma-separated or repeated)
    #[arg(long, value_delimiter = ',', value_name = "RULE")]
    pub ignore: Vec<String>,
    /// Configuration file (default: stackfix.toml in the project directory, if present)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Service profiles that override the built-in ones by kind name
    #[arg(long, value_name = "FILE")]
    pub profiles: Option<PathBuf>,
    /// When to color text output (auto: on a terminal, unless NO_COLOR is set)
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(clap::Args, Debug)]
pub struct RulesArgs {
    /// Rule to explain (e.g. no-healthcheck)
    pub name: Option<String>,
    /// Output format (text or json)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Runs a parsed command line and returns the exit code.
pub fn run(cli: Cli) -> u8 {
    let result = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Rules(args) => rules::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => EXIT_CLEAN,
        Err(err) => {
            eprintln!("error: {err}");
            EXIT_ERROR
        }
    }
}

/// Whether stdout gets ANSI colors.
fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

/// Writes to stdout, reporting a closed pipe as an error the caller turns into exit 0.
fn print(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}
