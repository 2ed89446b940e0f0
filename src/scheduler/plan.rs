//! The scheduler's decisions, as pure functions of the jobs, the backups and
//! the time: which jobs are due, when they run next, what retention removes,
//! how long to wait before a retry. The engine carries them out.

use crate::domain::{Backup, BackupId, BackupJob, BackupStatus, Gfs, ProjectId};
use crate::scheduler::CronSpec;
use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use std::collections::HashSet;

/// The next run of `job` strictly after `after`, on `tz`'s wall clock.
pub fn next_run<Tz: TimeZone>(
    job: &BackupJob,
    after: DateTime<Utc>,
    tz: &Tz,
) -> Option<DateTime<Utc>> {
    CronSpec::parse(&job.cron).ok()?.next_after(after, tz)
}

/// True for a job the scheduler runs: enabled, of an active project.
fn runs(job: &BackupJob, active_projects: &HashSet<ProjectId>) -> bool {
    job.enabled && active_projects.contains(&job.project_id)
}

/// Jobs due at `now`: enabled, of an active project, `next_run_at` reached.
/// A job whose runs were missed (the app was closed, the machine slept) is
/// due once, whatever how many slots it missed.
pub fn due_jobs<'a>(
    jobs: &'a [BackupJob],
    active_projects: &HashSet<ProjectId>,
    now: DateTime<Utc>,
) -> Vec<&'a BackupJob> {
    let mut due: Vec<&BackupJob> = jobs
        .iter()
        .filter(|j| runs(j, active_projects) && j.next_run_at.is_some_and(|t| t <= now))
        .collect();
    due.sort_by_key(|j| j.next_run_at);
    due
}

/// When the scheduler should wake next: the earliest `next_run_at` of a job
/// it runs (a paused project's overdue job would otherwise wake it at once,
/// forever), but at least every `max_sleep` (to notice clock jumps after a
/// suspend, and jobs added by another process).
pub fn next_wake(
    jobs: &[BackupJob],
    active_projects: &HashSet<ProjectId>,
    now: DateTime<Utc>,
    max_sleep: Duration,
) -> DateTime<Utc> {
    jobs.iter()
        .filter(|j| runs(j, active_projects))
        .filter_map(|j| j.next_run_at)
        .min()
        .map(|t| t.max(now))
        .unwrap_or(now + max_sleep)
        .min(now + max_sleep)
}

/// Delay before retry `attempt` (1-based): `first`, then four times longer
/// each time (30 s, 2 min, 8 min... by default), at most 1 h.
pub fn backoff(attempt: u32, first: std::time::Duration) -> std::time::Duration {
    let factor = 4u32.saturating_pow(attempt.saturating_sub(1));
    first
        .saturating_mul(factor)
        .min(std::time::Duration::from_secs(3600))
}

/// The backups the job's retention removes: its own completed backups that
/// no rule keeps. The rules are "keep last N", "keep N days" and
/// grandfather-father-son (the newest backup of each of the last N hours,
/// days, ISO weeks, months, years that have one, on `tz`'s calendar, as
/// restic's `forget` counts); a backup any rule keeps is kept. Never a
/// pinned backup, never the project's newest completed backup, never
/// another job's.
pub fn retention_victims<Tz: TimeZone>(
    job: &BackupJob,
    backups: &[Backup],
    now: DateTime<Utc>,
    tz: &Tz,
) -> Vec<BackupId> {
    let policy = job.retention;
    let gfs = job.extra.gfs;
    if policy.keep_last.is_none() && policy.keep_days.is_none() && gfs.is_empty() {
        return Vec::new();
    }
    let newest_of_project = backups
        .iter()
        .filter(|b| b.project_id == job.project_id && b.status == BackupStatus::Completed)
        .max_by_key(|b| b.started_at)
        .map(|b| b.id);
    let mut own: Vec<&Backup> = backups
        .iter()
        .filter(|b| b.job_id == Some(job.id) && b.status == BackupStatus::Completed)
        .collect();
    own.sort_by_key(|b| std::cmp::Reverse(b.started_at));
    let kept_by_gfs = gfs_keeps(&own, &gfs, tz);
    own.iter()
        .enumerate()
        .filter(|(i, b)| {
            let kept_by_count = policy.keep_last.is_some_and(|n| *i < n as usize);
            let kept_by_age = policy
                .keep_days
                .is_some_and(|d| now - b.started_at < Duration::days(d as i64));
            !(kept_by_count || kept_by_age || kept_by_gfs.contains(&b.id))
        })
        .map(|(_, b)| *b)
        .filter(|b| !b.pinned && Some(b.id) != newest_of_project)
        .map(|b| b.id)
        .collect()
}

/// The backups grandfather-father-son keeps, from `newest_first`: for each
/// rule, walking from the newest, a backup is kept when its period (hour,
/// day, ISO week, month, year on `tz`'s calendar) differs from the last one
/// that rule kept, until the rule has kept its N.
fn gfs_keeps<Tz: TimeZone>(newest_first: &[&Backup], gfs: &Gfs, tz: &Tz) -> HashSet<BackupId> {
    type Period = fn(&chrono::NaiveDateTime) -> (i32, u32, u32, u32);
    let rules: [(Option<u32>, Period); 5] = [
        (gfs.hourly, |t| (t.year(), t.ordinal(), t.hour(), 0)),
        (gfs.daily, |t| (t.year(), t.ordinal(), 0, 0)),
        (gfs.weekly, |t| {
            let w = t.iso_week();
            (w.year(), w.week(), 0, 0)
        }),
        (gfs.monthly, |t| (t.year(), t.month(), 0, 0)),
        (gfs.yearly, |t| (t.year(), 0, 0, 0)),
    ];
    let mut kept = HashSet::new();
    for (count, period) in rules {
        let Some(mut left) = count else { continue };
        let mut last = None;
        for b in newest_first {
            if left == 0 {
                break;
            }
            let local = b.started_at.with_timezone(tz).naive_local();
            let p = period(&local);
            if last != Some(p) {
                last = Some(p);
                kept.insert(b.id);
                left -= 1;
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Retention;
    use crate::domain::fixtures;
    use chrono_tz::Europe::Berlin;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn job(cron: &str, project: ProjectId) -> BackupJob {
        fixtures::job(project, cron)
    }

    fn backup(job: Option<&BackupJob>, project: ProjectId, at: DateTime<Utc>) -> Backup {
        fixtures::backup(project, job.map(|j| j.id), at, BackupStatus::Completed, 1)
    }

    #[test]
    fn a_missed_night_runs_once_at_the_next_start() {
        let p = ProjectId::new();
        let active: HashSet<_> = [p].into();
        let mut j = job("0 3 * * *", p);
        let mut now = utc("2026-11-20T12:00:00Z");
        j.next_run_at = next_run(&j, now, &Berlin);
        assert_eq!(j.next_run_at, Some(utc("2026-11-21T02:00:00Z")));
        // The app was closed for a week.
        now = utc("2026-11-28T12:00:00Z");
        let jobs = vec![j.clone()];
        assert_eq!(
            due_jobs(&jobs, &active, now).len(),
            1,
            "due once, not seven times"
        );
        // After the run, the next one is tomorrow night, not a missed slot.
        j.next_run_at = next_run(&j, now, &Berlin);
        assert_eq!(j.next_run_at, Some(utc("2026-11-29T02:00:00Z")));
        assert!(due_jobs(&[j], &active, now).is_empty());
    }

    #[test]
    fn disabled_jobs_and_inactive_projects_are_not_due() {
        let p = ProjectId::new();
        let mut j = job("* * * * *", p);
        j.next_run_at = Some(utc("2026-11-28T00:00:00Z"));
        let now = utc("2026-11-28T01:00:00Z");
        assert!(due_jobs(std::slice::from_ref(&j), &HashSet::new(), now).is_empty());
        j.enabled = false;
        assert!(due_jobs(&[j], &[p].into(), now).is_empty());
    }

    #[test]
    fn a_clock_jumping_back_does_not_run_a_job_twice() {
        let p = ProjectId::new();
        let mut j = job("0 3 * * *", p);
        let ran_at = utc("2026-11-28T02:00:00Z");
        j.next_run_at = next_run(&j, ran_at, &Berlin);
        // The clock is set back an hour after the run.
        let now = ran_at - Duration::hours(1);
        assert!(due_jobs(&[j], &[p].into(), now).is_empty());
    }

    #[test]
    fn the_scheduler_sleeps_until_the_next_job_but_not_forever() {
        let p = ProjectId::new();
        let active: HashSet<_> = [p].into();
        let now = utc("2026-11-28T00:00:00Z");
        let mut j = job("0 3 * * *", p);
        j.next_run_at = Some(utc("2026-11-28T00:00:30Z"));
        assert_eq!(
            next_wake(&[j.clone()], &active, now, Duration::minutes(1)),
            utc("2026-11-28T00:00:30Z")
        );
        // Overdue but paused (its project inactive) or disabled: it does
        // not wake the scheduler, which would find nothing to run.
        j.next_run_at = Some(utc("2026-11-27T23:00:00Z"));
        assert_eq!(
            next_wake(&[j.clone()], &HashSet::new(), now, Duration::minutes(1)),
            utc("2026-11-28T00:01:00Z")
        );
        j.enabled = false;
        assert_eq!(
            next_wake(&[j.clone()], &active, now, Duration::minutes(1)),
            utc("2026-11-28T00:01:00Z")
        );
        j.enabled = true;
        j.next_run_at = Some(utc("2026-11-28T03:00:00Z"));
        assert_eq!(
            next_wake(&[j], &active, now, Duration::minutes(1)),
            utc("2026-11-28T00:01:00Z")
        );
        assert_eq!(
            next_wake(&[], &active, now, Duration::minutes(1)),
            utc("2026-11-28T00:01:00Z")
        );
        let first = std::time::Duration::from_secs(30);
        assert_eq!(backoff(1, first).as_secs(), 30);
        assert_eq!(backoff(2, first).as_secs(), 120);
        assert_eq!(backoff(9, first).as_secs(), 3600);
        assert_eq!(backoff(2, std::time::Duration::from_secs(1)).as_secs(), 4);
    }

    #[test]
    fn retention_never_removes_the_last_good_backup_or_a_pinned_one() {
        let p = ProjectId::new();
        let mut j = job("0 3 * * *", p);
        j.retention = Retention {
            keep_last: Some(2),
            keep_days: None,
        };
        let now = utc("2026-11-28T12:00:00Z");
        let mut all: Vec<Backup> = (0..5)
            .map(|d| backup(Some(&j), p, now - Duration::days(d)))
            .collect();
        all[4].pinned = true;
        let other_job = job("0 4 * * *", p);
        all.push(backup(Some(&other_job), p, now - Duration::days(30)));
        all.push(backup(None, p, now - Duration::days(40)));
        let victims = retention_victims(&j, &all, now, &Utc);
        assert_eq!(victims, vec![all[2].id, all[3].id]);

        // keep_days keeps young ones beyond keep_last; either policy keeps.
        j.retention = Retention {
            keep_last: Some(1),
            keep_days: Some(3),
        };
        let victims = retention_victims(&j, &all, now, &Utc);
        assert_eq!(victims, vec![all[3].id]);

        // Even "keep 0" never removes the project's newest backup.
        j.retention = Retention {
            keep_last: Some(0),
            keep_days: None,
        };
        let only = vec![backup(Some(&j), p, now)];
        assert!(retention_victims(&j, &only, now, &Utc).is_empty());
    }

    #[test]
    fn gfs_keeps_the_newest_of_each_period_on_the_local_calendar() {
        let p = ProjectId::new();
        let mut j = job("0 * * * *", p);
        j.extra.gfs = Gfs {
            daily: Some(3),
            weekly: Some(2),
            ..Default::default()
        };
        // Two backups a day for 20 days, at 01:30 and 23:30 UTC.
        let now = utc("2026-11-30T23:45:00Z");
        let mut all = Vec::new();
        for d in 0..20 {
            for h in ["23:30", "01:30"] {
                let at = utc(&format!("2026-11-{:02}T{h}:00Z", 30 - d));
                all.push(backup(Some(&j), p, at));
            }
        }
        let kept = |tz: &dyn Fn(&[Backup]) -> Vec<BackupId>| -> Vec<String> {
            let victims = tz(&all);
            let mut k: Vec<String> = all
                .iter()
                .filter(|b| !victims.contains(&b.id))
                .map(|b| b.started_at.format("%m-%d %H:%M").to_string())
                .collect();
            k.sort();
            k
        };
        // UTC: the newest of Nov 30, 29, 28 (daily); of the ISO weeks of Nov
        // 30 (a Monday) and Nov 23-29 (weekly: Nov 29 23:30, already kept).
        assert_eq!(
            kept(&|all| retention_victims(&j, all, now, &Utc)),
            vec!["11-28 23:30", "11-29 23:30", "11-30 23:30"]
        );
        // In Berlin (UTC+1) 23:30 UTC is the next day's 00:30 and 01:30 UTC
        // is 02:30: the newest of Dec 1 local is Nov 30 23:30 UTC, of Nov 30
        // local Nov 30 01:30 UTC, of Nov 29 local Nov 29 01:30 UTC (which
        // is also the newest of the week before Monday Nov 30).
        assert_eq!(
            kept(&|all| retention_victims(&j, all, now, &Berlin)),
            vec!["11-29 01:30", "11-30 01:30", "11-30 23:30"]
        );
        // Weekly alone reaches back further than daily: the union keeps it.
        j.extra.gfs = Gfs {
            daily: Some(1),
            weekly: Some(3),
            ..Default::default()
        };
        assert_eq!(
            kept(&|all| retention_victims(&j, all, now, &Utc)),
            vec!["11-22 23:30", "11-29 23:30", "11-30 23:30"]
        );
        // Pinned backups and the newest are kept whatever the rules.
        j.extra.gfs = Gfs {
            yearly: Some(1),
            ..Default::default()
        };
        all[10].pinned = true;
        let victims = retention_victims(&j, &all, now, &Utc);
        assert_eq!(victims.len(), all.len() - 2);
        assert!(!victims.contains(&all[0].id) && !victims.contains(&all[10].id));
    }
}
