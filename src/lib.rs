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

/// Runs `f` on a thread of rayon's global pool and returns what it returns: on the calling
/// thread when it is one of the pool's, else on one of them while the caller waits. The analysis
/// hands work to the pool in many places (rules side by side, fix plans in parallel, a reload
/// beside its diffs); from a thread outside the pool each hand-off wakes a worker and puts the
/// caller to sleep until it is done, which on a busy machine costs more than a small stack's
/// work, while inside the pool a hand-off no other thread takes runs on the spot. So a program
/// runs a whole analysis (loading, checking, a fix run, an assessment) through here once, as
/// `stackfix` does, and writes files on its own thread, where signals are held (see
/// [`fix::write::start_worker_threads`]).
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    match rayon::current_thread_index() {
        Some(_) => f(),
        None => rayon::scope(|_| f()),
    }
}
