//! `stackfix fix --interactive`: the session of `stackfix::interactive` with dialoguer prompts on
//! the terminal, then the files written or committed to a branch. Ctrl-C at any prompt ends the
//! process (as SIGINT does) and leaves everything as it was: nothing is written before the last
//! question.

use std::io::{self, IsTerminal};

use dialoguer::theme::{ColorfulTheme, SimpleTheme, Theme};
use dialoguer::{Input, MultiSelect, Select};
use stackfix::fix::{diff, FixOptions};
use stackfix::interactive::{self, Finish, Interrupted, Prompter, Review, SessionError};

use super::config::Prepared;
use super::fix::write_changes;
use super::{print, use_color, FixArgs, EXIT_CLEAN, EXIT_ERROR};

/// Exit code after Ctrl-C, as a shell reports SIGINT.
const EXIT_INTERRUPTED: u8 = 130;

pub fn run(args: &FixArgs, prepared: &Prepared, options: &FixOptions) -> io::Result<u8> {
    if !(io::stdin().is_terminal() && io::stderr().is_terminal()) {
        eprintln!(
            "error: --interactive needs a terminal; preview the fixes with `stackfix fix --diff`, or accept them all with `--yes`"
        );
        return Ok(EXIT_ERROR);
    }
    let color = use_color(args.common.color);
    let theme: Box<dyn Theme> = if color { Box::new(ColorfulTheme::default()) } else { Box::new(SimpleTheme) };
    let mut prompter = Terminal { theme, color };
    let decision = match interactive::run(&prepared.load, &prepared.settings, options, &mut prompter) {
        Ok(Some(decision)) => decision,
        Ok(None) => {
            print("Nothing to fix.\n")?;
            return Ok(EXIT_CLEAN);
        }
        Err(SessionError::Interrupted) => {
            eprintln!("Interrupted; nothing was changed.");
            return Ok(EXIT_INTERRUPTED);
        }
        Err(SessionError::Fix(e)) => {
            eprintln!("error: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    match decision.finish {
        Finish::Quit => {
            print("Nothing was changed.\n")?;
            Ok(EXIT_CLEAN)
        }
        Finish::Write if decision.accepted.is_empty() => {
            print("No fix accepted; nothing was changed.\n")?;
            Ok(EXIT_CLEAN)
        }
        Finish::Write => {
            if !write_changes(&prepared.load.dir, &decision.outcome, args.write_read_only) {
                return Ok(EXIT_ERROR);
            }
            for change in &decision.outcome.changes {
                print(&format!("{} {}\n", if change.before.is_some() { "wrote" } else { "created" }, change.display))?;
            }
            Ok(EXIT_CLEAN)
        }
        Finish::Branch => super::branch::run(args, &[(prepared, &decision.options)]),
    }
}

/// dialoguer prompts on stderr.
struct Terminal {
    theme: Box<dyn Theme>,
    color: bool,
}

/// A terminal that can no longer be read (closed, or Ctrl-C where it is not a signal) ends the
/// session.
fn interrupted(_: dialoguer::Error) -> Interrupted {
    Interrupted
}

impl Prompter for Terminal {
    fn pick(&mut self, prompt: &str, items: &[String]) -> Result<Vec<usize>, Interrupted> {
        let defaults = vec![true; items.len()];
        let picked = MultiSelect::with_theme(self.theme.as_ref())
            .with_prompt(prompt)
            .items(items)
            .defaults(&defaults)
            .report(false)
            .interact()
            .map_err(interrupted)?;
        eprintln!("{} of {} fixes picked.", picked.len(), items.len());
        Ok(picked)
    }

    fn review(&mut self, title: &str, shown: &str) -> Result<Review, Interrupted> {
        let text = if self.color { diff::colorize(shown) } else { shown.to_string() };
        eprintln!("\n{text}");
        let choice = Select::with_theme(self.theme.as_ref())
            .with_prompt(title)
            .items(&["accept", "skip", "edit its parameters"])
            .default(0)
            .interact()
            .map_err(interrupted)?;
        Ok([Review::Accept, Review::Skip, Review::Edit][choice])
    }

    fn parameter(&mut self, parameters: &[String]) -> Result<Option<usize>, Interrupted> {
        if parameters.is_empty() {
            eprintln!("This fix has no parameters to edit.");
            return Ok(None);
        }
        let mut items = parameters.to_vec();
        items.push("back".into());
        let choice = Select::with_theme(self.theme.as_ref())
            .with_prompt("Parameter to change")
            .items(&items)
            .default(0)
            .interact()
            .map_err(interrupted)?;
        Ok((choice < parameters.len()).then_some(choice))
    }

    fn value(&mut self, name: &str, current: &str) -> Result<String, Interrupted> {
        let key = name.to_string();
        Input::with_theme(self.theme.as_ref())
            .with_prompt(format!("New value for {name}"))
            .default(current.to_string())
            .validate_with(move |value: &String| stackfix::fix::check_setting(&key, value))
            .interact_text()
            .map_err(interrupted)
    }

    fn finish(&mut self, summary: &str) -> Result<Finish, Interrupted> {
        eprintln!("\n{summary}");
        let choice = Select::with_theme(self.theme.as_ref())
            .with_prompt("What now?")
            .items(&["write the files", "commit them to a branch", "quit without changes"])
            .default(0)
            .interact()
            .map_err(interrupted)?;
        Ok([Finish::Write, Finish::Branch, Finish::Quit][choice])
    }
}
