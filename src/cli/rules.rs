//! `stackfix rules [NAME]`: list the rules or explain one.

use std::io;

use stackfix::rules::{self, REGISTRY};

use super::{print, Format, RulesArgs, EXIT_CLEAN, EXIT_ERROR};

pub fn run(args: &RulesArgs) -> io::Result<u8> {
    if let Some(name) = &args.name {
        let Some(rule) = rules::by_id(name) else {
            let hint = stackfix::fix::did_you_mean(REGISTRY.iter().map(|r| r.meta().id), name);
            eprintln!("error: unknown rule `{name}`{hint} (see `stackfix rules`)");
            return Ok(EXIT_ERROR);
        };
        let m = rule.meta();
        if args.format == Format::Json {
            print(&format!("{}\n", serde_json::to_string_pretty(&meta_json(m)).unwrap_or_default()))?;
            return Ok(EXIT_CLEAN);
        }
        print(&m.page())?;
        return Ok(EXIT_CLEAN);
    }
    if args.format == Format::Json {
        let all: Vec<_> = REGISTRY.iter().map(|r| meta_json(r.meta())).collect();
        print(&format!("{}\n", serde_json::to_string_pretty(&all).unwrap_or_default()))?;
        return Ok(EXIT_CLEAN);
    }
    let width = REGISTRY.iter().map(|r| r.meta().id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in REGISTRY {
        let m = r.meta();
        out.push_str(&format!("{:width$}  {:7}  {}\n", m.id, m.severity.as_str(), m.summary));
    }
    out.push_str("\nRun `stackfix rules NAME` for what a rule checks, why, and its fix.\n");
    print(&out)?;
    Ok(EXIT_CLEAN)
}

fn meta_json(m: &rules::RuleMeta) -> serde_json::Value {
    serde_json::json!({
        "id": m.id,
        "summary": m.summary,
        "severity": m.severity.as_str(),
        "area": m.area.as_str(),
        "scope": m.scope,
        "fix": m.fix,
        "applicability": m.applicability.as_str(),
        "seeds": m.seeds,
        "docs": m.documentation(),
    })
}
