//! A schedule's run history: its change log (every update with its time and the timing
//! before and after, so the history says when it was changed, paused or resumed), the
//! runs it was expected to make (each period by the definition then in force, paused
//! periods none), and what became of each (its job, or `missed`).
//!
//! Kept in the job table next to the run pointer (`SCHEDULE#<name>#<generation>#CHANGES`,
//! one item), because Scheduler keeps only the current definition. The item keeps the last
//! [`MAX_KEPT_CHANGES`] changes ([`keep_last`]), so a schedule changed without end stays
//! within DynamoDB's 400 KB item limit; runs older than the oldest change kept are read
//! by the definition that change started from.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Schedule;

/// What of a schedule decides when it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Timing {
    /// The EventBridge Scheduler expression.
    pub expression: String,
    pub timezone: String,
    /// `false` while paused.
    pub enabled: bool,
}

impl Timing {
    pub fn of(schedule: &Schedule) -> Self {
        Self {
            expression: schedule.expression.clone(),
            timezone: schedule.timezone.clone(),
            enabled: schedule.enabled,
        }
    }
}

/// One update of a schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleChange {
    #[schema(value_type = String, format = DateTime)]
    pub at: DateTime<Utc>,
    /// The fields it changed: `cron`, `timezone`, `task`, `input`, `overlap`, `enabled`.
    pub fields: Vec<String>,
    pub before: Timing,
    pub after: Timing,
    /// Who made the change; absent on changes recorded before callers were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl ScheduleChange {
    /// The change from `old` to `new` at `at` (no fields: nothing changed).
    pub fn between(old: &Schedule, new: &Schedule, at: DateTime<Utc>) -> Self {
        let mut fields = Vec::new();
        let mut differs = |name: &str, changed: bool| {
            if changed {
                fields.push(name.to_owned());
            }
        };
        differs("cron", old.cron != new.cron || old.expression != new.expression);
        differs("timezone", old.timezone != new.timezone);
        differs("task", old.task != new.task);
        differs("input", old.input != new.input);
        differs("overlap", old.overlap != new.overlap);
        differs("enabled", old.enabled != new.enabled);
        Self {
            at,
            fields,
            before: Timing::of(old),
            after: Timing::of(new),
            by: None,
        }
    }

    /// Whether it paused the schedule.
    pub fn paused(&self) -> bool {
        self.before.enabled && !self.after.enabled
    }

    /// Whether it resumed the schedule.
    pub fn resumed(&self) -> bool {
        !self.before.enabled && self.after.enabled
    }
}

/// Changes a schedule's log keeps: at most about 150 KB (an entry is under 800 bytes with
/// the longest expressions and time zones), and far more than any history shows.
pub const MAX_KEPT_CHANGES: usize = 200;

/// `changes` with `change` appended, the oldest dropped past [`MAX_KEPT_CHANGES`].
pub fn keep_last(mut changes: Vec<ScheduleChange>, change: ScheduleChange) -> Vec<ScheduleChange> {
    changes.push(change);
    let over = changes.len().saturating_sub(MAX_KEPT_CHANGES);
    changes.drain(..over);
    changes
}

/// The default grace period (`JOBS_MISSED_RUN_GRACE_SECS`): a run registered this long
/// after its scheduled time, or not at all, is `missed`. Scheduler delivers within seconds
/// and a worker registers a run when it receives it, so this leaves room for retries and
/// for workers scaling up from zero.
pub const MISSED_AFTER: TimeDelta = TimeDelta::minutes(15);

/// A period during which one definition was in force.
#[derive(Debug, Clone, PartialEq)]
struct Period {
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    timing: Timing,
}

/// The periods from the schedule's creation until `now`, each with its timing, read from
/// the change log (oldest first) and the current definition.
fn periods(schedule: &Schedule, changes: &[ScheduleChange], now: DateTime<Utc>) -> Vec<Period> {
    let mut periods = Vec::new();
    let mut from = schedule.created;
    let mut timing = changes
        .first()
        .map_or_else(|| Timing::of(schedule), |c| c.before.clone());
    for change in changes {
        let until = change.at.clamp(from, now.max(from));
        periods.push(Period {
            from,
            until,
            timing: timing.clone(),
        });
        from = until;
        timing = change.after.clone();
    }
    periods.push(Period {
        from,
        until: now.max(from),
        timing: Timing::of(schedule),
    });
    periods
}

/// The latest `n` runs of `timing` in `(from, until]` (and none before the creation), oldest
/// first. Only forward evaluation exists, so it looks back over a window that grows
/// fourfold until it holds `n` runs or reaches `from`, keeping only the last `n`.
fn last_runs(schedule: &Schedule, period: &Period, n: usize) -> Vec<DateTime<Utc>> {
    let probe = Schedule {
        expression: period.timing.expression.clone(),
        timezone: period.timing.timezone.clone(),
        enabled: true,
        ..schedule.clone()
    };
    let mut window = TimeDelta::hours(1);
    loop {
        let lower = period
            .until
            .checked_sub_signed(window)
            .map_or(period.from, |lower| lower.max(period.from));
        // A rate schedule's first run is at its creation: `runs_after` includes it only
        // when asked from before the creation.
        let start = if lower <= schedule.created {
            schedule.created - TimeDelta::seconds(1)
        } else {
            lower
        };
        let mut kept = std::collections::VecDeque::with_capacity(n + 1);
        let mut after = start;
        'scan: loop {
            let Ok(batch) = probe.runs_after(after, 256) else {
                return Vec::new();
            };
            if batch.is_empty() {
                break;
            }
            for run in &batch {
                let run = run.to_utc();
                if run > period.until {
                    break 'scan;
                }
                if run > period.from || (run == schedule.created && period.from == schedule.created) {
                    kept.push_back(run);
                    if kept.len() > n {
                        kept.pop_front();
                    }
                }
                after = run;
            }
        }
        if kept.len() >= n || lower == period.from {
            return kept.into();
        }
        window = window.checked_mul(4).unwrap_or(TimeDelta::MAX);
    }
}

/// The last `n` times the schedule was expected to run before `now`, newest first:
/// enabled periods only (a paused schedule is expected to do nothing), each period by the
/// expression and time zone then in force.
pub fn expected_runs(
    schedule: &Schedule,
    changes: &[ScheduleChange],
    now: DateTime<Utc>,
    n: usize,
) -> Vec<DateTime<Utc>> {
    let mut runs = Vec::new();
    for period in periods(schedule, changes, now).iter().rev() {
        if runs.len() >= n {
            break;
        }
        if !period.timing.enabled {
            continue;
        }
        let mut found = last_runs(schedule, period, n - runs.len());
        found.reverse();
        runs.extend(found);
    }
    runs
}

/// What became of one expected run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// A job was registered for it (see its status).
    Registered,
    /// No job yet, but within the grace period ([`MISSED_AFTER`] by default) of its time.
    Due,
    /// No job within the grace period of its time.
    Missed,
}

/// One expected run next to the job it produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub scheduled_for: DateTime<Utc>,
    /// The run's job id (derived from the schedule, its generation and the time).
    pub job_id: uuid::Uuid,
    pub state: RunState,
    /// The job, when one was registered.
    pub job: Option<crate::job::Job>,
}

impl RunRecord {
    /// From the scheduled time to the job's registration.
    pub fn delay(&self) -> Option<TimeDelta> {
        self.job.as_ref().map(|job| job.created_at - self.scheduled_for)
    }

    pub fn missed(&self) -> bool {
        self.state == RunState::Missed
    }
}

/// The job id of `schedule`'s run at `time`.
pub fn run_job_id(schedule: &Schedule, time: DateTime<Utc>) -> uuid::Uuid {
    let time = time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    crate::job::id_for_scheduled_run(&schedule.name, Some(&schedule.generation), &time)
}

/// Each expected run next to the job found for it (`jobs`, any order), newest first.
pub fn records(
    schedule: &Schedule,
    expected: &[DateTime<Utc>],
    jobs: Vec<crate::job::Job>,
    now: DateTime<Utc>,
    missed_after: TimeDelta,
) -> Vec<RunRecord> {
    let mut by_id: std::collections::HashMap<uuid::Uuid, crate::job::Job> =
        jobs.into_iter().map(|job| (job.job_id, job)).collect();
    expected
        .iter()
        .map(|&time| {
            let job_id = run_job_id(schedule, time);
            let job = by_id.remove(&job_id);
            let state = match &job {
                // A late registration is a run after all (its delay says how late).
                Some(_) => RunState::Registered,
                None if now - time > missed_after => RunState::Missed,
                None => RunState::Due,
            };
            RunRecord {
                scheduled_for: time,
                job_id,
                state,
                job,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_change_log_keeps_its_last_changes_only() {
        let change = |minute: i64| ScheduleChange {
            by: None,
            at: DateTime::from_timestamp(1_800_000_000 + minute * 60, 0).unwrap(),
            fields: vec!["enabled".into()],
            before: Timing {
                expression: "rate(1 hour)".into(),
                timezone: "UTC".into(),
                enabled: true,
            },
            after: Timing {
                expression: "rate(1 hour)".into(),
                timezone: "UTC".into(),
                enabled: false,
            },
        };
        let mut log = Vec::new();
        for minute in 0..(MAX_KEPT_CHANGES as i64 + 5) {
            log = keep_last(log, change(minute));
        }
        assert_eq!(log.len(), MAX_KEPT_CHANGES);
        assert_eq!(log[0], change(5), "the oldest five dropped");
        assert_eq!(log.last(), Some(&change(MAX_KEPT_CHANGES as i64 + 4)));
    }
    use super::*;
    use crate::cron::ScheduleExpression;
    use crate::job::{Job, JobSource};
    use crate::schedules::Overlap;
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn schedule(cron: &str, timezone: &str, created: &str) -> Schedule {
        Schedule {
            created_by: None,
            name: "s".into(),
            cron: cron.into(),
            expression: ScheduleExpression::parse(cron).unwrap().expression().into(),
            timezone: timezone.into(),
            task: "sleep".into(),
            input: json!({"ms": 1}),
            created: at(created),
            generation: "g".into(),
            enabled: true,
            overlap: Overlap::Allow,
        }
    }

    fn texts(runs: &[DateTime<Utc>]) -> Vec<String> {
        runs.iter()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .collect()
    }

    /// The job a worker would have registered for `s`'s run at `time`, `late` after it.
    fn job(s: &Schedule, time: DateTime<Utc>, late: TimeDelta) -> Job {
        Job::new(
            run_job_id(s, time),
            "sleep",
            json!({}),
            3,
            JobSource::Api,
            None,
            time + late,
        )
    }

    fn change(at_text: &str, before: Timing, after: Timing) -> ScheduleChange {
        ScheduleChange {
            by: None,
            at: at(at_text),
            fields: vec!["enabled".into()],
            before,
            after,
        }
    }

    #[test]
    fn expected_runs_follow_the_time_zone_across_a_spring_forward_change() {
        // Europe/Berlin, 2026-03-29: 02:00 jumps to 03:00, so 02:30 does not exist that day.
        let s = schedule("30 2 * * *", "Europe/Berlin", "2026-03-20T00:00:00Z");
        let runs = expected_runs(&s, &[], at("2026-03-31T12:00:00Z"), 4);
        assert_eq!(
            texts(&runs),
            [
                "2026-03-31T00:30:00Z",
                "2026-03-30T00:30:00Z",
                "2026-03-28T01:30:00Z",
                "2026-03-27T01:30:00Z",
            ],
            "newest first; summer time after the change, none on the day 02:30 did not exist"
        );
    }

    #[test]
    fn expected_runs_follow_the_time_zone_across_a_fall_back_change() {
        // America/New_York, 2026-11-01: 01:30 happens twice; it runs once, at the first.
        let s = schedule("30 1 * * *", "America/New_York", "2026-10-25T00:00:00Z");
        let runs = expected_runs(&s, &[], at("2026-11-02T12:00:00Z"), 3);
        assert_eq!(
            texts(&runs),
            ["2026-11-02T06:30:00Z", "2026-11-01T05:30:00Z", "2026-10-31T05:30:00Z"]
        );
    }

    #[test]
    fn a_run_without_a_job_past_the_grace_period_is_missed_one_within_it_is_due() {
        let s = schedule("0 * * * *", "UTC", "2026-01-05T00:30:00Z");
        let now = at("2026-01-05T05:10:00Z");
        let expected = expected_runs(&s, &[], now, 10);
        assert_eq!(
            texts(&expected),
            [
                "2026-01-05T05:00:00Z",
                "2026-01-05T04:00:00Z",
                "2026-01-05T03:00:00Z",
                "2026-01-05T02:00:00Z",
                "2026-01-05T01:00:00Z",
            ],
            "none before the creation"
        );
        // 03:00 was suppressed on purpose; 02:00 was registered an hour late.
        let jobs = vec![
            job(&s, at("2026-01-05T04:00:00Z"), TimeDelta::seconds(2)),
            job(&s, at("2026-01-05T02:00:00Z"), TimeDelta::hours(1)),
            job(&s, at("2026-01-05T01:00:00Z"), TimeDelta::milliseconds(300)),
        ];
        let history = records(&s, &expected, jobs, now, MISSED_AFTER);
        let states: Vec<RunState> = history.iter().map(|r| r.state).collect();
        assert_eq!(
            states,
            [
                RunState::Due,
                RunState::Registered,
                RunState::Missed,
                RunState::Registered,
                RunState::Registered,
            ]
        );
        assert_eq!(history[1].delay(), Some(TimeDelta::seconds(2)));
        assert_eq!(history[3].delay(), Some(TimeDelta::hours(1)), "late, not missed");
        assert_eq!(history[2].delay(), None);
        assert_eq!(history.iter().filter(|r| r.missed()).count(), 1);
        // Past the grace period the 05:00 run is missed too.
        let later = records(&s, &expected[..1], vec![], now + TimeDelta::minutes(6), MISSED_AFTER);
        assert_eq!(later[0].state, RunState::Missed);
    }

    #[test]
    fn a_paused_period_expects_no_runs_so_none_are_missed() {
        let mut s = schedule("0 * * * *", "UTC", "2026-01-05T00:30:00Z");
        let on = Timing::of(&s);
        let off = Timing {
            enabled: false,
            ..on.clone()
        };
        let changes = vec![
            change("2026-01-05T01:30:00Z", on.clone(), off.clone()),
            change("2026-01-05T04:30:00Z", off, on),
        ];
        s.enabled = true;
        let now = at("2026-01-05T06:10:00Z");
        let expected = expected_runs(&s, &changes, now, 10);
        assert_eq!(
            texts(&expected),
            ["2026-01-05T06:00:00Z", "2026-01-05T05:00:00Z", "2026-01-05T01:00:00Z"],
            "02:00, 03:00 and 04:00 fell in the pause"
        );
        let jobs = expected.iter().map(|&t| job(&s, t, TimeDelta::seconds(1))).collect();
        let history = records(&s, &expected, jobs, now, MISSED_AFTER);
        assert!(history.iter().all(|r| r.state == RunState::Registered), "{history:?}");
    }

    #[test]
    fn each_period_is_read_by_the_expression_then_in_force() {
        let s = schedule("*/30 * * * *", "UTC", "2026-01-05T00:00:00Z");
        let before = Timing {
            expression: "cron(0 * * * ? *)".into(),
            ..Timing::of(&s)
        };
        let changes = vec![ScheduleChange {
            by: None,
            at: at("2026-01-05T03:10:00Z"),
            fields: vec!["cron".into()],
            before,
            after: Timing::of(&s),
        }];
        let runs = expected_runs(&s, &changes, at("2026-01-05T04:00:00Z"), 5);
        assert_eq!(
            texts(&runs),
            [
                "2026-01-05T04:00:00Z",
                "2026-01-05T03:30:00Z",
                "2026-01-05T03:00:00Z",
                "2026-01-05T02:00:00Z",
                "2026-01-05T01:00:00Z",
            ]
        );
    }

    #[test]
    fn sparse_schedules_are_found_far_back_and_rate_schedules_from_their_creation() {
        let s = schedule("0 0 1 1 *", "UTC", "2020-06-01T00:00:00Z");
        let runs = expected_runs(&s, &[], at("2026-06-01T00:00:00Z"), 3);
        assert_eq!(
            texts(&runs),
            ["2026-01-01T00:00:00Z", "2025-01-01T00:00:00Z", "2024-01-01T00:00:00Z"]
        );
        let rate = schedule("rate(10 minutes)", "UTC", "2026-01-05T00:03:00Z");
        let runs = expected_runs(&rate, &[], at("2026-01-05T00:25:00Z"), 10);
        assert_eq!(
            texts(&runs),
            ["2026-01-05T00:23:00Z", "2026-01-05T00:13:00Z", "2026-01-05T00:03:00Z"]
        );
        let minutely = schedule("* * * * *", "UTC", "2025-01-01T00:00:00Z");
        let runs = expected_runs(&minutely, &[], at("2026-01-05T00:00:30Z"), 100);
        assert_eq!(runs.len(), 100);
        assert_eq!(texts(&runs[..1]), ["2026-01-05T00:00:00Z"]);
    }
}
