//! Build script: records the commit stackfix is built from, for `stackfix --version`
//! (`0.1.0 (3d45b21 2026-11-30)`; the package version alone outside a git checkout), and turns
//! the image catalog (`templates/catalog.yml`, where its facts and their sources are kept) into
//! JSON, which the binary reads at start far faster than YAML (a unit test keeps the two equal).

use std::path::Path;
use std::process::Command;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok().filter(|o| o.status.success())?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// Builds JSON from YAML events as `stackfix::stack::catalog` reads the file: a plain `true` or
/// `false` is a boolean, a plain empty, `~` or `null` (any case the YAML core schema allows) is
/// null, a plain integer a number, every other scalar a string. Aliases, merge keys and duplicate
/// keys are refused (the catalog has none).
#[derive(Default)]
struct Json {
    /// Open collections, each with the key its next value takes (mappings).
    stack: Vec<(serde_json::Value, Option<String>)>,
    done: Option<serde_json::Value>,
    error: Option<String>,
}

impl Json {
    fn push_value(&mut self, value: serde_json::Value, at: Marker) {
        let fail = |message: String| format!("templates/catalog.yml:{}:{}: {message}", at.line(), at.col() + 1);
        match self.stack.last_mut() {
            None => self.done = Some(value),
            Some((serde_json::Value::Array(items), _)) => items.push(value),
            Some((serde_json::Value::Object(map), key)) => match key.take() {
                None => match value {
                    serde_json::Value::String(k) if k == "<<" => {
                        self.error.get_or_insert(fail("merge keys are not read in the catalog".into()));
                    }
                    serde_json::Value::String(k) if map.contains_key(&k) => {
                        self.error.get_or_insert(fail(format!("duplicate key `{k}`")));
                    }
                    serde_json::Value::String(k) => *key = Some(k),
                    other => *key = Some(other.to_string()),
                },
                Some(k) => {
                    map.insert(k, value);
                }
            },
            Some(_) => unreachable!("only collections are open"),
        }
    }
}

impl MarkedEventReceiver for Json {
    fn on_event(&mut self, event: Event, at: Marker) {
        match event {
            Event::Scalar(text, style, _, _) => {
                let value = if style != TScalarStyle::Plain {
                    serde_json::Value::String(text)
                } else {
                    match text.as_str() {
                        "" | "~" | "null" | "Null" | "NULL" => serde_json::Value::Null,
                        "true" => serde_json::Value::Bool(true),
                        "false" => serde_json::Value::Bool(false),
                        t => t.parse::<i64>().map(serde_json::Value::from).unwrap_or(serde_json::Value::String(text)),
                    }
                };
                self.push_value(value, at);
            }
            Event::SequenceStart(..) => self.stack.push((serde_json::Value::Array(Vec::new()), None)),
            Event::MappingStart(..) => self.stack.push((serde_json::Value::Object(Default::default()), None)),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((value, _)) = self.stack.pop() {
                    self.push_value(value, at);
                }
            }
            Event::Alias(_) => {
                let message = format!("templates/catalog.yml:{}: aliases are not read in the catalog", at.line());
                self.error.get_or_insert(message);
            }
            _ => {}
        }
    }
}

/// `templates/catalog.yml` as JSON in `OUT_DIR/catalog.json`.
fn catalog() {
    println!("cargo:rerun-if-changed=templates/catalog.yml");
    let text = std::fs::read_to_string("templates/catalog.yml").expect("templates/catalog.yml");
    let mut json = Json::default();
    if let Err(e) = Parser::new_from_str(&text).load(&mut json, false) {
        panic!("templates/catalog.yml: {e}");
    }
    if let Some(error) = json.error {
        panic!("{error}");
    }
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("catalog.json");
    std::fs::write(out, json.done.unwrap_or_default().to_string()).expect("writing catalog.json");
}

fn main() {
    catalog();
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let full = match git(&["log", "-1", "--format=%h %cs"]) {
        Some(commit) => format!("{version} ({commit})"),
        None => version,
    };
    println!("cargo:rustc-env=STACKFIX_VERSION={full}");
    // Built again when HEAD moves: HEAD itself, the branch it names, and packed refs.
    if let (Some(dir), Some(common)) = (git(&["rev-parse", "--git-dir"]), git(&["rev-parse", "--git-common-dir"])) {
        println!("cargo:rerun-if-changed={}", Path::new(&dir).join("HEAD").display());
        println!("cargo:rerun-if-changed={}", Path::new(&common).join("packed-refs").display());
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={}", Path::new(&common).join(branch).display());
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
