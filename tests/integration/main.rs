//! stackfix's integration tests: one binary, one module per area.

mod actions;
mod bootstrap;
mod cli;
mod common;
mod corpus;
mod edit_vectors;
mod fix;
mod git;
mod hardening;
mod hostile;
mod install;
mod interactive;
mod many;
mod monitoring;
mod precommit;
mod redis;
mod registry;
mod regression;
mod rules;
mod runtime;
mod sarif;
mod semantics;
mod stacks;
mod traefik;
mod validators;
mod writes;
