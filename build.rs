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
/// null, a plain integer a number, every other scalar a string; keys are their text as written.
/// What that reading refuses or the catalog never holds is refused: aliases, merge keys, keys
/// that are not scalars, duplicate keys, an empty file and more than one document.
#[derive(Default)]
struct Json {
    /// Open collections, each with the key its next value takes (mappings).
    stack: Vec<(serde_json::Value, Option<String>)>,
    done: Option<serde_json::Value>,
    documents: usize,
    error: Option<String>,
}

impl Json {
    fn fail(&mut self, at: Marker, message: &str) {
        let message = format!("templates/catalog.yml:{}:{}: {message}", at.line(), at.col() + 1);
        self.error.get_or_insert(message);
    }

    /// Whether the next scalar or collection is a mapping's key.
    fn expects_key(&self) -> bool {
        matches!(self.stack.last(), Some((serde_json::Value::Object(_), None)))
    }

    fn push_value(&mut self, value: serde_json::Value) {
        match self.stack.last_mut() {
            None => self.done = Some(value),
            Some((serde_json::Value::Array(items), _)) => items.push(value),
            Some((serde_json::Value::Object(map), key)) => {
                if let Some(k) = key.take() {
                    map.insert(k, value);
                }
            }
            Some(_) => unreachable!("only collections are open"),
        }
    }

    fn push_key(&mut self, text: String, style: TScalarStyle, at: Marker) {
        let Some((serde_json::Value::Object(map), key)) = self.stack.last_mut() else { return };
        if map.contains_key(&text) {
            let message = format!("duplicate key `{text}`");
            return self.fail(at, &message);
        }
        if text == "<<" && style == TScalarStyle::Plain {
            return self.fail(at, "merge keys are not read in the catalog");
        }
        *key = Some(text);
    }
}

impl MarkedEventReceiver for Json {
    fn on_event(&mut self, event: Event, at: Marker) {
        match event {
            Event::Scalar(text, style, _, _) if self.expects_key() => self.push_key(text, style, at),
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
                self.push_value(value);
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if self.expects_key() => {
                self.fail(at, "keys in the catalog are scalars");
            }
            Event::SequenceStart(..) => self.stack.push((serde_json::Value::Array(Vec::new()), None)),
            Event::MappingStart(..) => self.stack.push((serde_json::Value::Object(Default::default()), None)),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((value, _)) = self.stack.pop() {
                    self.push_value(value);
                }
            }
            Event::Alias(_) => self.fail(at, "aliases are not read in the catalog"),
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(at, "the catalog is one YAML document");
                }
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
    if let Err(e) = Parser::new_from_str(&text).load(&mut json, true) {
        panic!("templates/catalog.yml: {e}");
    }
    if let Some(error) = json.error {
        panic!("{error}");
    }
    let Some(catalog) = json.done.filter(serde_json::Value::is_object) else {
        panic!("templates/catalog.yml: the catalog is a mapping (`images: [...]`)");
    };
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("catalog.json");
    std::fs::write(out, catalog.to_string()).expect("writing catalog.json");
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
