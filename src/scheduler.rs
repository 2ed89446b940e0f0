//! Schedules: cron lines, which jobs are due, when they run next, what
//! retention removes. Pure decisions; the engine carries them out.

mod cron;
mod plan;

pub use cron::CronSpec;
pub use plan::{backoff, due_jobs, next_run, next_wake, retention_victims};
