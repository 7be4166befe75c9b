//! `stackfix rules [NAME]`: list the rules or explain one.

use std::io;

use stackfix::rules::{self, FixAvailability, REGISTRY};

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
        let docs: String = m.docs.lines().map(|l| l.strip_prefix(' ').unwrap_or(l)).collect::<Vec<_>>().join("\n");
        print(&format!(
            "# {} ({})\n\nSeverity: {}. Applies to: {}. Fix: {}. Seed reports: {}.\n\n{}\n",
            m.id,
            m.summary,
            m.severity.as_str(),
            match m.scope {
                rules::Scope::Production => "production configurations",
                rules::Scope::Any => "every configuration",
                rules::Scope::Requested => "production configurations, when asked for (--select, bootstrap --with)",
            },
            fix_text(m),
            m.seeds.join(", "),
            docs.trim()
        ))?;
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

fn fix_text(m: &rules::RuleMeta) -> String {
    match m.fix {
        FixAvailability::Never => "none (detection only)".into(),
        FixAvailability::Sometimes => format!("sometimes, {}", m.applicability.as_str()),
        FixAvailability::Always => m.applicability.as_str().to_string(),
    }
}

fn meta_json(m: &rules::RuleMeta) -> serde_json::Value {
    serde_json::json!({
        "id": m.id,
        "summary": m.summary,
        "severity": m.severity.as_str(),
        "scope": m.scope,
        "fix": m.fix,
        "applicability": m.applicability.as_str(),
        "seeds": m.seeds,
        "docs": m.docs,
    })
}
