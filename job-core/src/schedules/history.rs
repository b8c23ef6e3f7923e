//! A schedule's change log: every update with its time and the definition before and
//! after, so a run history can say when the schedule was changed, paused or resumed, and
//! compute each period's expected runs from the definition in force then.
//!
//! Kept in the job table next to the run pointer (`SCHEDULE#<name>#<generation>#CHANGES`,
//! one item, appended to), because Scheduler keeps only the current definition.

use chrono::{DateTime, Utc};
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
