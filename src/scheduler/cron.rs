//! Cron lines as people write them (5 fields, `@daily`, ranges, steps,
//! names), evaluated on the local wall clock with the `cron` crate, with
//! plain-words descriptions.
//!
//! The `cron` crate wants seconds first and numbers weekdays 1-7 from
//! Sunday, and requires day-of-month AND day-of-week to match; standard cron
//! numbers 0-7 (0 and 7 are Sunday) and matches either when both are set.
//! This module adapts; it does not parse cron itself.

use crate::domain::ValidationError;
use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use std::str::FromStr;

const FIELD: &str = "cron";
const NAMES: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];

/// A checked cron line.
#[derive(Debug, Clone)]
pub struct CronSpec {
    source: String,
    fields: [String; 5],
    /// One schedule, or two when both day fields are set (either may match).
    schedules: Vec<cron::Schedule>,
}

fn expand_macro(line: &str) -> Option<&'static str> {
    Some(match line {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => return None,
    })
}

/// Standard weekday numbers (0-7) to the cron crate's (1-7 from Sunday).
fn translate_dow(field: &str) -> Result<String, String> {
    let mut out = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let conv = |n: &str| -> Result<String, String> {
            if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() {
                match n.parse::<u32>() {
                    Ok(v @ 0..=6) => Ok((v + 1).to_string()),
                    Ok(7) => Ok("1".into()),
                    _ => Err(format!(
                        "{n} is not a day (0-7, where 0 and 7 are Sunday, or SUN-SAT)"
                    )),
                }
            } else {
                Ok(n.to_string())
            }
        };
        let translated = match range.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (conv(a)?, if b == "7" { "7".to_string() } else { conv(b)? });
                // "5-7" (Friday to Sunday) becomes 6-7 plus Sunday.
                if range.ends_with("-7") && step.is_none() {
                    out.push("1".to_string());
                }
                format!("{a}-{b}")
            }
            None => conv(range)?,
        };
        out.push(match step {
            Some(s) => format!("{translated}/{s}"),
            None => translated,
        });
    }
    Ok(out.join(","))
}

/// Names the wrong field of a line that does not parse: each field is tried
/// alone with the others at '*'.
fn name_bad_field(fields: &[String; 5], dow: &str) -> Option<ValidationError> {
    NAMES.iter().enumerate().find_map(|(i, name)| {
        let mut probe: [String; 5] = std::array::from_fn(|_| "*".to_string());
        probe[i] = if i == 4 {
            dow.to_string()
        } else {
            fields[i].clone()
        };
        build(&probe, &probe[2], &probe[4]).err().map(|e| {
            ValidationError::new(
                FIELD,
                format!("{name} field \"{}\" is not valid: {e}", fields[i]),
            )
        })
    })
}

fn build(fields: &[String; 5], dom: &str, dow: &str) -> Result<cron::Schedule, String> {
    let expr = format!(
        "0 {} {} {} {} {}",
        fields[0], fields[1], dom, fields[3], dow
    );
    cron::Schedule::from_str(&expr).map_err(|e| e.to_string())
}

impl CronSpec {
    /// Parses a line; a bad one names the field that is wrong.
    pub fn parse(line: &str) -> Result<Self, ValidationError> {
        let source = line.trim().to_string();
        let expanded = if source.starts_with('@') {
            expand_macro(&source.to_ascii_lowercase()).ok_or_else(|| {
                ValidationError::new(
                    FIELD,
                    format!(
                        "unknown shortcut \"{source}\": use @hourly, @daily, @weekly, @monthly or @yearly"
                    ),
                )
            })?
        } else {
            &source
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(ValidationError::new(
                FIELD,
                format!(
                    "needs 5 fields (minute hour day-of-month month day-of-week), got {}: for example \"0 3 * * *\" is every day at 03:00",
                    parts.len()
                ),
            ));
        }
        let mut fields: [String; 5] = Default::default();
        for (i, p) in parts.iter().enumerate() {
            fields[i] = p.to_string();
        }
        let dow = translate_dow(&fields[4]).map_err(|e| {
            ValidationError::new(FIELD, format!("day-of-week field \"{}\": {e}", fields[4]))
        })?;
        let both_days = fields[2] != "*" && fields[4] != "*";
        let schedules = if both_days {
            vec![build(&fields, &fields[2], "*"), build(&fields, "*", &dow)]
        } else {
            vec![build(&fields, &fields[2], &dow)]
        };
        let schedules = schedules
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| name_bad_field(&fields, &dow).unwrap_or(ValidationError::new(FIELD, e)))?;
        Ok(Self {
            source,
            fields,
            schedules,
        })
    }

    /// The line as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The next run strictly after `after`, on `tz`'s wall clock. A time
    /// that a DST change skips runs at the first minute after the jump; a
    /// time that happens twice runs once, the first time.
    pub fn next_after<Tz: TimeZone>(&self, after: DateTime<Utc>, tz: &Tz) -> Option<DateTime<Utc>> {
        let mut local = after.with_timezone(tz).naive_local();
        // A few candidates can map to an instant not after `after` (the
        // repeated hour); skip those.
        for _ in 0..1000 {
            let naive = self.next_naive(local)?;
            let instant = match tz.from_local_datetime(&naive) {
                LocalResult::Single(t) => t.with_timezone(&Utc),
                LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
                LocalResult::None => first_valid_after_gap(tz, naive)?,
            };
            if instant > after {
                return Some(instant);
            }
            local = naive;
        }
        None
    }

    /// The next naive wall-clock time after `local` matching any schedule.
    fn next_naive(&self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        let as_utc = Utc.from_utc_datetime(&local);
        self.schedules
            .iter()
            .filter_map(|s| s.after(&as_utc).next())
            .min()
            .map(|t| t.naive_utc())
    }

    /// The next `n` runs after `after`.
    pub fn upcoming<Tz: TimeZone>(
        &self,
        after: DateTime<Utc>,
        tz: &Tz,
        n: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            match self.next_after(t, tz) {
                Some(next) => {
                    out.push(next);
                    t = next;
                }
                None => break,
            }
        }
        out
    }

    /// The usual gap between runs (the longest of the next few, so that a
    /// weekend without runs is not "late"), for "is the last backup older
    /// than the schedule promises".
    pub fn interval<Tz: TimeZone>(&self, now: DateTime<Utc>, tz: &Tz) -> Option<Duration> {
        let runs = self.upcoming(now, tz, 6);
        runs.windows(2).map(|w| w[1] - w[0]).max()
    }

    /// The schedule in plain words.
    pub fn describe(&self) -> String {
        let [min, hour, dom, month, dow] = &self.fields;
        let time = match (min.parse::<u32>(), hour.parse::<u32>()) {
            (Ok(m), Ok(h)) => format!("at {h:02}:{m:02}"),
            (Ok(m), Err(_)) if hour == "*" => {
                if m == 0 {
                    "every hour, on the hour".to_string()
                } else {
                    format!("every hour at minute {m}")
                }
            }
            (Ok(m), Err(_)) => match hour.strip_prefix("*/") {
                Some(step) => format!("every {step} hours at minute {m}"),
                None => format!("at minute {m} past hour {hour}"),
            },
            _ => match min.strip_prefix("*/") {
                Some(step) if hour == "*" => format!("every {step} minutes"),
                Some(step) => format!("every {step} minutes during hour {hour}"),
                None if min == "*" && hour == "*" => "every minute".to_string(),
                None => format!("at minute {min} past hour {hour}"),
            },
        };
        let mut days = Vec::new();
        if dom != "*" {
            days.push(format!("on day {dom} of the month"));
        }
        if dow != "*" {
            days.push(format!("on {}", weekdays_words(dow)));
        }
        let mut out = time;
        if days.is_empty() {
            if !out.starts_with("every") {
                out.push_str(" every day");
            }
        } else {
            out.push(' ');
            out.push_str(&days.join(" or "));
        }
        if month != "*" {
            out.push_str(&format!(" in {}", months_words(month)));
        }
        let mut chars = out.chars();
        match chars.next() {
            Some(c) => c.to_uppercase().collect::<String>() + chars.as_str(),
            None => out,
        }
    }
}

fn first_valid_after_gap<Tz: TimeZone>(tz: &Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    let mut t = naive;
    for _ in 0..(24 * 60) {
        t += Duration::minutes(1);
        if let Some(v) = tz.from_local_datetime(&t).earliest() {
            // The first valid minute is the end of the gap, minute-aligned.
            return Some(v.with_timezone(&Utc));
        }
    }
    None
}

fn weekday_name(s: &str) -> String {
    const DAYS: [&str; 8] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    if let Ok(n) = s.parse::<usize>() {
        return DAYS
            .get(n)
            .map(|d| d.to_string())
            .unwrap_or_else(|| s.to_string());
    }
    let lower = s.to_ascii_lowercase();
    DAYS.iter()
        .find(|d| {
            d.to_ascii_lowercase()
                .starts_with(&lower[..lower.len().min(3)])
        })
        .map(|d| d.to_string())
        .unwrap_or_else(|| s.to_string())
}

fn weekdays_words(dow: &str) -> String {
    dow.split(',')
        .map(|item| match item.split_once('-') {
            Some((a, b)) => format!("{} through {}", weekday_name(a), weekday_name(b)),
            None => weekday_name(item),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn months_words(month: &str) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let name = |s: &str| -> String {
        match s.parse::<usize>() {
            Ok(n @ 1..=12) => MONTHS[n - 1].to_string(),
            _ => s.to_string(),
        }
    };
    month
        .split(',')
        .map(|item| match item.split_once('-') {
            Some((a, b)) => format!("{} through {}", name(a), name(b)),
            None => name(item),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn five_fields_macros_names_ranges_and_steps() {
        for line in [
            "0 3 * * *",
            "@daily",
            "*/15 * * * *",
            "30 2 * * MON-FRI",
            "0 0 1 */2 *",
            "0 12 * JAN,JUL SUN",
            "5 4 * * 0,7",
        ] {
            CronSpec::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
    }

    #[test]
    fn a_bad_line_names_the_field() {
        for (line, field) in [
            ("61 3 * * *", "minute field"),
            ("0 25 * * *", "hour field"),
            ("0 3 32 * *", "day-of-month field"),
            ("0 3 * 13 *", "month field"),
            ("0 3 * * 8", "day-of-week field"),
            ("0 3 * * FUNDAY", "day-of-week field"),
            ("0 3 * *", "needs 5 fields"),
            ("@sometimes", "unknown shortcut"),
        ] {
            let e = CronSpec::parse(line).unwrap_err();
            assert_eq!(e.field, "cron");
            assert!(e.rule.contains(field), "{line}: {}", e.rule);
        }
    }

    #[test]
    fn weekdays_use_standard_numbering() {
        let s = CronSpec::parse("0 9 * * 1").unwrap();
        // 2026-11-28 is a Saturday: next Monday is 11-30.
        let next = s.next_after(utc("2026-11-28T12:00:00Z"), &Utc).unwrap();
        assert_eq!(next, utc("2026-11-30T09:00:00Z"));
        let sunday = CronSpec::parse("0 9 * * 7").unwrap();
        assert_eq!(
            sunday
                .next_after(utc("2026-11-28T12:00:00Z"), &Utc)
                .unwrap(),
            utc("2026-11-29T09:00:00Z")
        );
        let weekend = CronSpec::parse("0 9 * * 5-7").unwrap();
        let runs = weekend.upcoming(utc("2026-11-26T12:00:00Z"), &Utc, 3);
        assert_eq!(
            runs,
            vec![
                utc("2026-11-27T09:00:00Z"),
                utc("2026-11-28T09:00:00Z"),
                utc("2026-11-29T09:00:00Z")
            ]
        );
    }

    #[test]
    fn day_of_month_or_day_of_week_like_standard_cron() {
        let s = CronSpec::parse("0 0 1 * MON").unwrap();
        let runs = s.upcoming(utc("2026-11-28T00:00:00Z"), &Utc, 3);
        assert_eq!(
            runs,
            vec![
                utc("2026-11-30T00:00:00Z"),
                utc("2026-12-01T00:00:00Z"),
                utc("2026-12-07T00:00:00Z")
            ]
        );
    }

    #[test]
    fn month_ends_and_leap_days() {
        let s = CronSpec::parse("0 3 31 * *").unwrap();
        let runs = s.upcoming(utc("2027-01-31T04:00:00Z"), &Utc, 2);
        assert_eq!(
            runs,
            vec![utc("2027-03-31T03:00:00Z"), utc("2027-05-31T03:00:00Z")]
        );
        let leap = CronSpec::parse("0 0 29 2 *").unwrap();
        assert_eq!(
            leap.next_after(utc("2026-11-28T00:00:00Z"), &Utc).unwrap(),
            utc("2028-02-29T00:00:00Z")
        );
    }

    #[test]
    fn dst_spring_forward_runs_once_after_the_jump_and_skips_no_day() {
        // Berlin jumps from 02:00 to 03:00 on 2026-03-29.
        let s = CronSpec::parse("30 2 * * *").unwrap();
        let runs = s.upcoming(utc("2026-03-27T12:00:00Z"), &Berlin, 4);
        let local: Vec<String> = runs
            .iter()
            .map(|t| t.with_timezone(&Berlin).format("%m-%d %H:%M").to_string())
            .collect();
        assert_eq!(
            local,
            vec!["03-28 02:30", "03-29 03:00", "03-30 02:30", "03-31 02:30"]
        );
    }

    #[test]
    fn dst_fall_back_runs_once_in_the_repeated_hour() {
        // Berlin repeats 02:00-03:00 on 2026-10-25.
        let s = CronSpec::parse("30 2 * * *").unwrap();
        let runs = s.upcoming(utc("2026-10-24T12:00:00Z"), &Berlin, 2);
        assert_eq!(
            runs[0],
            utc("2026-10-25T00:30:00Z"),
            "the first 02:30 (CEST)"
        );
        assert_eq!(runs[1], utc("2026-10-26T01:30:00Z"), "one run a day");
        // Asking again from inside the repeated hour does not run it twice.
        let again = s.next_after(utc("2026-10-25T01:10:00Z"), &Berlin).unwrap();
        assert_eq!(again, utc("2026-10-26T01:30:00Z"));
    }

    #[test]
    fn plain_words() {
        let d = |l: &str| CronSpec::parse(l).unwrap().describe();
        assert_eq!(d("0 3 * * *"), "At 03:00 every day");
        assert_eq!(d("@hourly"), "Every hour, on the hour");
        assert_eq!(d("*/15 * * * *"), "Every 15 minutes");
        assert_eq!(d("30 2 * * MON-FRI"), "At 02:30 on Monday through Friday");
        assert_eq!(d("0 0 1 * *"), "At 00:00 on day 1 of the month");
        assert_eq!(d("0 12 * 1,7 0"), "At 12:00 on Sunday in January, July");
    }

    #[test]
    fn interval_is_the_usual_gap() {
        let s = CronSpec::parse("0 3 * * *").unwrap();
        assert_eq!(
            s.interval(utc("2026-11-28T00:00:00Z"), &Utc),
            Some(Duration::days(1))
        );
    }
}
