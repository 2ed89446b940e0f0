//! Schedules: cron lines, due jobs, retention, catch-up.

mod cron;

pub use cron::CronSpec;
