//! stackfix: analyse docker-compose stacks the way infrastructure audits do, and point at the exact
//! place each fix belongs.

pub mod assess;
pub mod bootstrap;
pub mod fix;
#[doc(hidden)]
pub mod fuzzing;
pub mod git;
pub mod interactive;
pub mod report;
pub mod rules;
pub mod stack;
pub mod yaml;
