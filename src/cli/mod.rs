//! The command line: clap types hold what was typed; each subcommand turns them into engine options,
//! runs, prints and returns an exit code. The only module that prints or exits.

mod bootstrap;
mod branch;
mod check;
mod config;
mod fix;
mod interactive;
mod report;
mod rules;
mod templates;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

/// `--version`: the package version, and the commit it was built from when built in a git
/// checkout (`0.1.0 (3d45b21 2026-11-30)`; set by build.rs).
const VERSION: &str = env!("STACKFIX_VERSION");

/// Exit codes: 0 clean, 1 findings, 2 usage, input or internal error.
pub const EXIT_CLEAN: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "stackfix",
    version = VERSION,
    about = "Find what infrastructure audits find in docker-compose stacks, and where each fix goes",
    long_about = "stackfix loads a docker-compose stack the way `docker compose` does (base, override and \
production files, include, extends, the files mounted into Prometheus, Alertmanager, Traefik and Redis) and \
reports what audit reports flag: missing limits and health checks, redis without maxmemory, alerts without \
Alertmanager, Traefik without rate limits, missing exporters and backups, secrets in compose files. \
`stackfix fix` writes the fixes a person would make, verified before any byte is written.\n\n\
Exit codes: 0 nothing to report (or to change), 1 findings (or changes with --diff), 2 usage or input error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Analyse a stack and report findings
    Check(CheckArgs),
    /// Fix findings: preview them as a diff, or apply them
    Fix(FixArgs),
    /// Write a production file (docker-compose.prod.yml) for a development stack
    ///
    /// Applies every production fix stackfix has (limits, restart policy, health checks and the
    /// conditions that wait for them, log rotation, redis memory policy, Traefik rate limits, no
    /// source mounts, no published database ports, production build stages, development flags
    /// off, secrets from variables), each under a comment naming its rule. Base files are not
    /// changed. Run it again to update the file in place: a person's edits and comments stay.
    ///
    /// Exit codes: 0 written (or nothing to change), 1 changes shown with --diff, 2 usage or input
    /// error.
    Bootstrap(BootstrapArgs),
    /// Write a production-readiness assessment of a stack (Markdown, HTML or JSON)
    ///
    /// Scores per area now and after the fixes, what the stack already does right (with the
    /// place that shows it), the issues by priority with each one's fix as a diff (or what a
    /// person must decide), a checklist, the order in which to apply the fixes, and a picture of
    /// the stack (Mermaid in Markdown, inline SVG in HTML). Made from the files alone: the same files give the same report.
    /// Credentials are never shown (`<redacted>`). `-o` never replaces a file of the stack.
    ///
    /// Exit codes: 0 written (whatever the findings), 2 usage or input error: a stack that does
    /// not load is named under "Stacks not assessed" in the report of the others (nothing is
    /// written when none loads).
    Report(ReportArgs),
    /// List the rules, or explain one
    Rules(RulesArgs),
    /// Work with the fix templates
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// Print a shell completion script (`stackfix completions bash > /etc/bash_completion.d/stackfix`)
    Completions {
        /// The shell to complete in
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; `stackfix man > stackfix.1 && man ./stackfix.1`)
    Man,
    /// Print the JSON Schema of stackfix.toml, for editors (the repository keeps it as
    /// stackfix.schema.json)
    Schema,
}

#[derive(Subcommand, Debug)]
pub enum TemplatesCommand {
    /// Write the built-in templates to DIR, to edit and pass back with --templates DIR
    Export {
        /// Directory to write into (created if missing; existing files are not overwritten)
        dir: PathBuf,
    },
}

/// Where production-only settings go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IntoArg {
    /// The production overlay when the stack has one, else where the service is defined
    Overlay,
    /// Where the service is defined, even when there is an overlay
    Base,
}

#[derive(clap::Args, Debug)]
pub struct FixArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Print the changes as a unified diff instead of writing them (exit 1 when there are any)
    #[arg(long)]
    pub diff: bool,
    /// Replace files that have no write bit too (refused otherwise, exit 2); their mode is kept
    #[arg(long, conflicts_with = "diff")]
    pub write_read_only: bool,
    /// Also apply fixes that change behaviour (secrets to variables, guessed health endpoints, …)
    #[arg(long)]
    pub unsafe_fixes: bool,
    /// Only fix this service (repeatable; a name the stack lacks is an error)
    #[arg(long = "service", value_name = "NAME")]
    pub services: Vec<String>,
    /// Template parameter: KEY=VALUE for every service, or SERVICE.KEY=VALUE for one (repeatable;
    /// keys: memory, cpus, reservation_memory, reservation_cpus, average, burst, period, interval,
    /// timeout, start_period, retries, test, schedule, keep_days, keep_weeks, keep_months, max_size,
    /// max_file, policy; sizes as compose reads them: 512m, 1gb, 1GiB; durations: 30s, 1m30s)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Where production-only settings go
    #[arg(long, value_enum, default_value_t = IntoArg::Overlay)]
    pub into: IntoArg,
    /// Directory of templates replacing the built-in ones by name (see `stackfix templates export`)
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Output format (reports for code scanning and CI are `stackfix check --format`'s)
    #[arg(long, value_enum, default_value_t = WriteFormat::Text)]
    pub format: WriteFormat,
    /// Commit the fixes to branch NAME made from HEAD (default stackfix/fixes), computed from HEAD's
    /// files; the working tree and the index are not touched. The name goes after `=`
    /// (`--branch=fixes/prod`): `--branch DIR` is the default branch for the stack in DIR
    #[arg(long, value_name = "NAME", num_args = 0..=1, require_equals = true, default_missing_value = "stackfix/fixes", conflicts_with_all = ["diff", "commit"])]
    pub branch: Option<String>,
    /// One branch per rule (stackfix/<rule>), each made from HEAD
    #[arg(long, conflicts_with_all = ["diff", "commit", "branch"])]
    pub branch_per_rule: bool,
    /// Write the fixes and commit them on the current branch (refused when a file to fix has
    /// uncommitted changes)
    #[arg(long, conflicts_with = "diff")]
    pub commit: bool,
    /// Rebuild a fix branch even when someone else committed on it
    #[arg(long)]
    pub force: bool,
    /// Commit author and committer, `Name <email>` (default: git's user.name and user.email)
    #[arg(long, value_name = "NAME <EMAIL>")]
    pub author: Option<String>,
    /// Exit 1 when a fix was written, even if nothing is left for a person (for CI jobs that must
    /// notice a change)
    #[arg(long, conflicts_with = "diff")]
    pub exit_non_zero_on_fix: bool,
    /// Walk through the fixes in the terminal: pick, review each diff, edit parameters, then
    /// write, commit to a branch, or quit without changes
    #[arg(short = 'i', long, conflicts_with_all = ["diff", "commit", "branch", "branch_per_rule"])]
    pub interactive: bool,
    /// With --interactive: accept every fix without asking (for scripts and CI)
    #[arg(short = 'y', long, requires = "interactive")]
    pub yes: bool,
    #[command(flatten)]
    pub walk: WalkArgs,
    /// Exit 0 even when findings are left for a person (2 still means an error; with
    /// --exit-non-zero-on-fix, 1 means a fix was written): for hooks that stop only on a change
    #[arg(long)]
    pub exit_zero: bool,
    /// Write a pull request body to FILE (Markdown): what was fixed, per file and rule, what was
    /// not and why, what is left for a person, and how to review (`gh pr create --body-file FILE`)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["branch_per_rule", "interactive"])]
    pub pr_body: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct BootstrapArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Production file to write (default: the directory's production file, else docker-compose.prod.yml)
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// overlay: only what production changes, used as `-f base -f prod`; standalone: a complete file
    /// [default: overlay; an existing production file as it is deployed, asked when the files
    /// do not tell]
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Also add this infrastructure (comma-separated or repeated)
    #[arg(long = "with", value_enum, value_delimiter = ',', value_name = "EXTRA")]
    pub extras: Vec<ExtraArg>,
    /// Print the changes as a unified diff instead of writing them (exit 1 when there are any)
    #[arg(long)]
    pub diff: bool,
    /// Template parameter: KEY=VALUE for every service, or SERVICE.KEY=VALUE for one (repeatable;
    /// keys: memory, cpus, reservation_memory, reservation_cpus, average, burst, period, interval,
    /// timeout, start_period, retries, test, schedule, keep_days, keep_weeks, keep_months, max_size,
    /// max_file, policy; sizes as compose reads them: 512m, 1gb, 1GiB; durations: 30s, 1m30s)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Directory of templates replacing the built-in ones by name (see `stackfix templates export`)
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// Output format (reports for code scanning and CI are `stackfix check --format`'s)
    #[arg(long, value_enum, default_value_t = WriteFormat::Text)]
    pub format: WriteFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Only what production changes, merged over the base (`docker compose -f base -f prod`)
    Overlay,
    /// A complete file for teams that deploy it alone
    Standalone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExtraArg {
    /// A backup service with its own volume for each database
    Backups,
    /// Prometheus, alert rules, Alertmanager and exporters for the databases, with their configs
    Monitoring,
    /// Traefik in front of the web services: TLS, HTTPS redirect, security headers, rate limits
    Traefik,
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
    /// GitLab Code Quality (a JSON array for `artifacts:reports:codequality`)
    Gitlab,
}

impl Format {
    /// Formats only `check` writes: reports of findings for code scanning and CI.
    fn check_only(self) -> bool {
        matches!(self, Format::Sarif | Format::Github | Format::Gitlab)
    }

    fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Sarif => "sarif",
            Format::Github => "github",
            Format::Gitlab => "gitlab",
        }
    }
}

/// What `fix` and `bootstrap` print: what they changed, skipped and left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WriteFormat {
    /// What changed, what was skipped and why, what is left, as lines for a person
    Text,
    /// One object: `version`, the changes, the fixes applied and skipped, the findings left
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Options `check` and `fix` share: what to load and which rules run.
#[derive(clap::Args, Debug)]
pub struct CommonArgs {
    /// Stack directories or compose files; a compose file stands for the stack of its directory
    /// (default: the first `-f` file's directory, else the current directory, else the closest
    /// directory above it holding a compose file)
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Compose file to load, in order, like `docker compose -f` (repeatable)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Project directory, as `docker compose --project-directory` takes it (same as a PATH)
    #[arg(long = "project-directory", value_name = "DIR", conflicts_with = "paths")]
    pub project_directory: Option<PathBuf>,
    /// Only these rules (comma-separated or repeated)
    #[arg(long, value_delimiter = ',', value_name = "RULE")]
    pub select: Vec<String>,
    /// Not these rules (comma-separated or repeated)
    #[arg(long, value_delimiter = ',', value_name = "RULE")]
    pub ignore: Vec<String>,
    /// Configuration file (default: stackfix.toml in the project directory, if present)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Service profiles that override the built-in ones by kind name
    #[arg(long, value_name = "FILE")]
    pub profiles: Option<PathBuf>,
    /// When to color output (auto: on a terminal, unless NO_COLOR is set)
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub walk: WalkArgs,
    /// Exit 0 even when there are findings (2 still means an error)
    #[arg(long)]
    pub exit_zero: bool,
    /// The lowest severity that fails the run (exit 1); findings below it are still reported
    #[arg(long, value_enum, value_name = "SEVERITY", default_value_t = FailOn::Info)]
    pub fail_on: FailOn,
    /// Write the report in --format to FILE (replaced whole, or left as it was on error) and the
    /// text report to the terminal
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    /// Print how many findings each rule has instead of the findings (text or json)
    #[arg(long)]
    pub statistics: bool,
    /// Also append a Markdown summary (totals, findings per rule, how many are fixable) to FILE,
    /// such as "$GITHUB_STEP_SUMMARY"
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Print the findings only: no notes and no closing count line (--summary still writes its file)
    #[arg(short, long)]
    pub quiet: bool,
    /// Report only the findings FILE does not hold (made by --write-baseline); exit 1 only for
    /// those
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write every finding to FILE as a baseline, for adopting stackfix on an existing repository
    /// (exit 0)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["baseline", "output_file"])]
    pub write_baseline: Option<PathBuf>,
    /// Also note each suppression comment (`# stackfix: ignore[rule]`) that silenced no finding
    #[arg(long)]
    pub unused_suppressions: bool,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub walk: WalkArgs,
    /// Output format [default: from -o FILE's extension (.html/.htm, .json, .md), else markdown]
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
    /// Write the report to FILE (replaced whole, or left as it was on error) instead of stdout
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
}

impl ReportArgs {
    /// The format asked for, else the one `-o FILE`'s extension names, else Markdown.
    pub fn format(&self) -> ReportFormat {
        let extension = self.output_file.as_deref().and_then(|p| p.extension()).and_then(|e| e.to_str());
        let named = match extension.map(str::to_ascii_lowercase).as_deref() {
            Some("html" | "htm") => Some(ReportFormat::Html),
            Some("json") => Some(ReportFormat::Json),
            _ => None,
        };
        self.format.or(named).unwrap_or(ReportFormat::Markdown)
    }
}

/// `stackfix report --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// GitHub-flavoured Markdown with a Mermaid diagram
    Markdown,
    /// The same content as JSON: {"version": 1, "stacks": [...]}
    Json,
    /// One self-contained HTML page (no scripts or network assets) with an SVG diagram
    Html,
}

/// Which stacks `check` and `fix` take besides the PATHs named.
#[derive(clap::Args, Debug)]
pub struct WalkArgs {
    /// Every stack at or below the PATH directories (default: the current directory): each
    /// directory holding a compose file `docker compose` would find, skipping what .gitignore
    /// ignores
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Skip paths matching GLOB (gitignore syntax; repeatable): PATHs named (relative to the
    /// current directory) and what --recursive walks (relative to the PATH walked)
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
}

/// The lowest severity that fails `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Only errors fail
    Error,
    /// Errors and warnings fail
    Warning,
    /// Every finding fails
    Info,
}

impl FailOn {
    /// Whether a finding of severity `severity` fails the run.
    pub fn fails(self, severity: stackfix::rules::Severity) -> bool {
        use stackfix::rules::Severity;
        let floor = match self {
            FailOn::Error => Severity::Error,
            FailOn::Warning => Severity::Warning,
            FailOn::Info => Severity::Info,
        };
        severity >= floor
    }
}

#[derive(clap::Args, Debug)]
pub struct RulesArgs {
    /// Rule to explain (e.g. no-healthcheck)
    pub name: Option<String>,
    /// Output format (text or json)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The exit code of several runs: an error over findings over clean (codes outside the three,
/// such as 128 + a signal, win).
fn worst(a: u8, b: u8) -> u8 {
    let rank = |code: u8| match code {
        EXIT_CLEAN => 0,
        EXIT_FINDINGS => 1,
        EXIT_ERROR => 2,
        _ => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// Runs a parsed command line and returns the exit code.
pub fn run(cli: Cli) -> u8 {
    let result = match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Fix(args) => fix::run(&args),
        Command::Bootstrap(args) => bootstrap::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Rules(args) => rules::run(&args),
        Command::Templates(TemplatesCommand::Export { dir }) => templates::export(&dir),
        Command::Completions { shell } => completions(shell),
        Command::Man => manual(),
        Command::Schema => print(&config::schema()).map(|()| EXIT_CLEAN),
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
///
/// `auto` follows the conventions anstream implements for a stream: `CLICOLOR_FORCE` turns
/// colours on, `NO_COLOR` and `CLICOLOR=0` off, else a terminal that supports them gets them;
/// `FORCE_COLOR` (set, not `0`) turns them on first, as Node tools and CI systems expect,
/// unless `NO_COLOR` is set too.
fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0");
            let forced = set("FORCE_COLOR") && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            forced || anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
        }
    }
}

/// `stackfix completions SHELL`: the script clap_complete makes from the command definitions.
fn completions(shell: clap_complete::Shell) -> io::Result<u8> {
    let mut command = <Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, "stackfix", &mut out);
    print(&String::from_utf8_lossy(&out))?;
    Ok(EXIT_CLEAN)
}

/// `stackfix man`: the manual page clap_mangen makes from the command definitions.
fn manual() -> io::Result<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut out)?;
    print(&String::from_utf8_lossy(&out))?;
    Ok(EXIT_CLEAN)
}

/// Writes `path` whole (a report, a pull request body): into a temporary file beside it, then
/// renamed over it (a reader never sees half a file, and a failed run leaves the old one). A
/// replaced file keeps its mode and, where the user may give them, its owner and group; a new one
/// gets the umask's mode; a link is written through. What is not a regular file (`/dev/null`,
/// `/dev/stdout`, a named pipe) is written into, as a shell's `>` does, never replaced.
pub(crate) fn write_whole(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let fail = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let mut file = std::fs::OpenOptions::new().write(true).open(path).map_err(fail)?;
        return write(&mut file).and_then(|()| file.flush()).map_err(fail);
    }
    // A link is written through: the file it names is replaced, the link stays.
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => path.canonicalize().map_err(fail)?,
        _ => path.to_path_buf(),
    };
    let dir = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: the directory {} does not exist", path.display(), dir.display()),
        ));
    }
    // A new file gets 0666 less the umask, as any program's; a replaced one keeps its mode.
    let mut temp = tempfile::Builder::new()
        .prefix(".stackfix-report-")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(&dir)
        .map_err(fail)?;
    write(temp.as_file_mut()).map_err(fail)?;
    if let Ok(m) = std::fs::metadata(&target) {
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(m.permissions().mode() & 0o7777))
            .map_err(fail)?;
        // Root keeps the owner; anyone else may keep the group they belong to. A change the
        // system refuses leaves the file the writer's, as any editor does.
        if std::os::unix::fs::fchown(temp.as_file(), Some(m.uid()), Some(m.gid())).is_err() {
            let _ = std::os::unix::fs::fchown(temp.as_file(), None, Some(m.gid()));
        }
    }
    temp.as_file().sync_all().map_err(fail)?;
    temp.persist(&target).map_err(|e| fail(e.error))?;
    Ok(())
}

/// The file of `inputs` that `output` would overwrite (the same file, by its real path, or by its
/// device and inode when it is a hard link to one; a path that does not exist yet is judged by
/// its directory's real path), if any: a report written over the compose file it assesses (or
/// the `.env` it reads) destroys the stack.
pub(crate) fn overwrites_input<'a>(output: &Path, inputs: impl IntoIterator<Item = &'a Path>) -> Option<&'a Path> {
    let real = |p: &Path| {
        p.canonicalize().ok().or_else(|| {
            let parent = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            Some(parent.canonicalize().ok()?.join(p.file_name()?))
        })
    };
    let out = real(output)?;
    let out_id = file_id(&out);
    inputs
        .into_iter()
        .find(|input| real(input).is_some_and(|i| i == out || (out_id.is_some() && file_id(&i) == out_id)))
}

/// A file's identity on disk (device and inode), following links; `None` where there is none.
fn file_id(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Refuses (with the error printed) an output path that is a file of one of `stacks` or one a
/// fix writes (`also`): `what` names the option (`-o`, `--pr-body`).
pub(crate) fn refuse_overwriting<'a>(
    what: &str,
    output: &Path,
    inputs: impl IntoIterator<Item = &'a Path>,
) -> Result<(), u8> {
    match overwrites_input(output, inputs) {
        Some(input) => {
            eprintln!(
                "error: {what} {}: that is {}, a file of the stack; not overwriting it",
                output.display(),
                input.display()
            );
            Err(EXIT_ERROR)
        }
        None => Ok(()),
    }
}

/// Writes to stdout, reporting a closed pipe as an error the caller turns into exit 0.
fn print(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}
