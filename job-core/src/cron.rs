//! Schedule expressions for EventBridge Scheduler: parse and validate what a user
//! sends to `POST /jobs/schedule`, convert it to the form Scheduler accepts, and
//! preview the next run times.
//!
//! Accepted input:
//! - a Unix 5-field cron (`minute hour day-of-month month day-of-week`), validated
//!   with [`croner`] and converted to EventBridge's 6-field `cron(...)`;
//! - an EventBridge `cron(minutes hours day-of-month month day-of-week year)`;
//! - an EventBridge `rate(value unit)`.
//!
//! Local emulators store any expression, so the validation here is the only one an
//! expression gets before it reaches AWS.
//!
//! Daylight saving time follows what EventBridge Scheduler documents: a cron time
//! that does not exist in the schedule's time zone (skipped when clocks spring
//! forward) is skipped, and a time that happens twice (clocks fall back) runs once,
//! at its first occurrence. Rate schedules count fixed durations and ignore the clock.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};

/// Longest schedule expression EventBridge Scheduler accepts.
const MAX_EXPRESSION_LEN: usize = 256;
/// Last year the EventBridge year field allows (the first is 1970).
const MAX_YEAR: i32 = 2199;
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// Why a schedule expression or time zone was rejected. Messages name the field,
/// the value and what is allowed, so they can be shown to API users as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// The input was empty or only whitespace.
    #[error("schedule expression is empty")]
    Empty,
    /// The input is neither a Unix cron nor `cron(...)` / `rate(...)`.
    #[error(
        "`{input}` is not a schedule expression: expected a Unix cron such as `0 7 * * MON`, \
         `cron(minutes hours day-of-month month day-of-week year)` or `rate(value unit)`"
    )]
    Unrecognised { input: String },
    /// Wrong number of fields.
    #[error("`{input}`: expected {expected} fields ({layout}), found {found}")]
    FieldCount {
        input: String,
        found: usize,
        expected: usize,
        layout: &'static str,
    },
    /// One field is invalid.
    #[error("invalid {field} field `{value}`: {reason} (allowed: {allowed})")]
    InvalidField {
        field: CronField,
        value: String,
        reason: String,
        allowed: &'static str,
    },
    /// A Unix cron restricts both day fields, which EventBridge cannot express.
    #[error(
        "`{input}` restricts both day-of-month (`{dom}`) and day-of-week (`{dow}`): Unix cron \
         runs when either matches, which EventBridge cannot express; restrict only one of the \
         two (set the other to `*`), or create two schedules, one per field"
    )]
    BothDayFields { input: String, dom: String, dow: String },
    /// An EventBridge cron without `?` in exactly one of the day fields.
    #[error(
        "EventBridge needs `?` in exactly one of day-of-month (`{dom}`) and day-of-week \
         (`{dow}`), e.g. `cron(0 7 ? * MON *)` or `cron(0 7 1 * ? *)`"
    )]
    DayQuestionMark { dom: String, dow: String },
    /// An invalid `rate(...)` expression.
    #[error("invalid rate expression `{input}`: {reason}")]
    InvalidRate { input: String, reason: String },
    /// The EventBridge expression would be longer than Scheduler allows.
    #[error("schedule expression is {len} characters long; EventBridge allows at most 256")]
    TooLong { len: usize },
    /// A Unix cron that could not be converted faithfully (a defect, never expected).
    #[error("cannot convert `{input}` to an EventBridge expression with the same meaning")]
    Unconvertible { input: String },
    /// The time zone is not an IANA name.
    #[error("unknown time zone `{name}`: expected an IANA name such as `UTC` or `Europe/Berlin`")]
    UnknownTimezone { name: String },
}

/// A field of a cron expression, as named in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronField {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
    Year,
}

impl fmt::Display for CronField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CronField::Minute => "minute",
            CronField::Hour => "hour",
            CronField::DayOfMonth => "day-of-month",
            CronField::Month => "month",
            CronField::DayOfWeek => "day-of-week",
            CronField::Year => "year",
        })
    }
}

/// Whether a schedule runs at cron times or at a fixed rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleKind {
    Cron,
    Rate,
}

/// A validated schedule expression in EventBridge Scheduler form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleExpression {
    expression: String,
    source: String,
    plan: Plan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    Cron(EventBridgeCron),
    Rate(TimeDelta),
}

impl ScheduleExpression {
    /// Parses user input: a Unix 5-field cron (converted to EventBridge's 6-field
    /// form), or an EventBridge `cron(6 fields)` / `rate(value unit)`, validated
    /// against EventBridge's rules.
    pub fn parse(input: &str) -> Result<Self, CronError> {
        let trimmed = input.trim();
        let lower = trimmed.to_ascii_lowercase();
        let inner = |prefix: &str| {
            lower
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(')'))
                .map(|_| &trimmed[prefix.len()..trimmed.len() - 1])
        };
        let (expression, plan) = if trimmed.is_empty() {
            return Err(CronError::Empty);
        } else if let Some(body) = inner("cron(") {
            let (expression, cron) = parse_eventbridge_cron(body)?;
            (expression, Plan::Cron(cron))
        } else if let Some(body) = inner("rate(") {
            let (expression, period) = parse_rate(trimmed, body)?;
            (expression, Plan::Rate(period))
        } else if trimmed.contains(['(', ')']) {
            return Err(CronError::Unrecognised {
                input: trimmed.to_string(),
            });
        } else {
            let (expression, cron) = convert_unix(trimmed)?;
            (expression, Plan::Cron(cron))
        };
        if expression.len() > MAX_EXPRESSION_LEN {
            return Err(CronError::TooLong { len: expression.len() });
        }
        Ok(Self {
            expression,
            source: input.to_string(),
            plan,
        })
    }

    /// Whether this is a cron or a rate schedule.
    pub fn kind(&self) -> ScheduleKind {
        match self.plan {
            Plan::Cron(_) => ScheduleKind::Cron,
            Plan::Rate(_) => ScheduleKind::Rate,
        }
    }

    /// The EventBridge form to send to Scheduler, e.g. `cron(0 7 ? * MON *)`.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The input as the user gave it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The next `n` run times strictly after `after`, evaluated in time zone `tz`
    /// the way EventBridge Scheduler evaluates the expression.
    ///
    /// Cron: a run time skipped by a spring-forward change does not run; a run time
    /// repeated by a fall-back change runs once, at its first occurrence. Runs end
    /// with the year 2199, the last one EventBridge allows.
    ///
    /// Rate: `after + k * period` for k = 1..=n. A rate schedule without a start
    /// date starts when it is created (Scheduler invokes it right away), so pass the
    /// creation time as `after`; a day is 24 hours, whatever the clock does.
    pub fn next_runs(&self, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Tz>> {
        match &self.plan {
            Plan::Cron(cron) => cron.next_runs(tz, after, n),
            Plan::Rate(period) => (1..=n)
                .map_while(|k| period.checked_mul(i32::try_from(k).ok()?))
                .map_while(|offset| after.checked_add_signed(offset))
                .map(|run| run.with_timezone(&tz))
                .collect(),
        }
    }
}

impl fmt::Display for ScheduleExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expression)
    }
}

/// Parses an IANA time zone name such as `Europe/Berlin` (for Scheduler's
/// `ScheduleExpressionTimezone`).
pub fn parse_timezone(name: &str) -> Result<Tz, CronError> {
    // Exactly an IANA name, as the OpenAPI document lists them.
    name.parse()
        .map_err(|_| CronError::UnknownTimezone { name: name.to_string() })
}

// ---- Field specifications --------------------------------------------------

/// The values one field allows in one dialect.
struct FieldSpec {
    field: CronField,
    min: u32,
    max: u32,
    /// Names of consecutive values from `min` (JAN = 1; SUN = 0 in Unix, 1 in EventBridge).
    names: &'static [&'static str],
    allowed: &'static str,
}

const fn spec(field: CronField, min: u32, max: u32, allowed: &'static str) -> FieldSpec {
    let names: &[&str] = match field {
        CronField::Month => &MONTHS,
        CronField::DayOfWeek => &WEEKDAYS,
        _ => &[],
    };
    FieldSpec {
        field,
        min,
        max,
        names,
        allowed,
    }
}

const UNIX: [FieldSpec; 5] = [
    spec(CronField::Minute, 0, 59, "0-59"),
    spec(CronField::Hour, 0, 23, "0-23"),
    spec(CronField::DayOfMonth, 1, 31, "1-31"),
    spec(CronField::Month, 1, 12, "1-12 or JAN-DEC"),
    spec(CronField::DayOfWeek, 0, 7, "0-7 or SUN-SAT, 0 and 7 are Sunday"),
];
const EVENTBRIDGE: [FieldSpec; 6] = [
    spec(CronField::Minute, 0, 59, "0-59"),
    spec(CronField::Hour, 0, 23, "0-23"),
    spec(CronField::DayOfMonth, 1, 31, "1-31, ?, L or nW"),
    spec(CronField::Month, 1, 12, "1-12 or JAN-DEC"),
    spec(
        CronField::DayOfWeek,
        1,
        7,
        "1-7 or SUN-SAT, 1 is Sunday; ?, L, nL or n#k",
    ),
    spec(CronField::Year, 1970, MAX_YEAR as u32, "1970-2199"),
];

impl FieldSpec {
    fn error(&self, text: &str, reason: impl Into<String>) -> CronError {
        CronError::InvalidField {
            field: self.field,
            value: text.to_string(),
            reason: reason.into(),
            allowed: self.allowed,
        }
    }

    /// One number or name of this field; `text` is the whole field, for errors.
    fn value(&self, text: &str, token: &str) -> Result<u32, CronError> {
        if let Some(i) = self.names.iter().position(|name| *name == token) {
            return Ok(self.min + i as u32);
        }
        if token == "?" {
            return Err(self.error(text, "`?` must stand alone in day-of-month or day-of-week"));
        }
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.error(text, format!("`{token}` is not a number")));
        }
        match token.parse::<u32>() {
            Ok(v) if (self.min..=self.max).contains(&v) => Ok(v),
            _ => Err(self.error(text, format!("{token} is out of range"))),
        }
    }

    /// A `/` step, from 1 to the field's span.
    fn step(&self, text: &str, step: &str) -> Result<u32, CronError> {
        let span = self.max - self.min;
        match step.parse::<u32>() {
            Ok(s) if (1..=span).contains(&s) && step.bytes().all(|b| b.is_ascii_digit()) => Ok(s),
            _ => Err(self.error(text, format!("step `{step}` must be a whole number from 1 to {span}"))),
        }
    }
}

/// A set of field values (at most 256 consecutive ones from `base`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ValueSet {
    base: u32,
    bits: [u64; 4],
}

impl ValueSet {
    fn new(base: u32) -> Self {
        Self { base, bits: [0; 4] }
    }
    fn insert(&mut self, value: u32) {
        let i = value - self.base;
        self.bits[(i / 64) as usize] |= 1 << (i % 64);
    }
    fn contains(&self, value: u32) -> bool {
        let Some(i) = value.checked_sub(self.base).filter(|i| *i < 256) else {
            return false;
        };
        self.bits[(i / 64) as usize] & (1 << (i % 64)) != 0
    }
    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (self.base..self.base + 256).filter(|v| self.contains(*v))
    }
}

// ---- EventBridge cron: parsing and evaluation ------------------------------

/// Which days an EventBridge cron runs on; exactly one day field is not `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DaySpec {
    /// Day-of-month values (day-of-week is `?`).
    MonthDays(ValueSet),
    /// `L` in day-of-month: the month's last day.
    LastDayOfMonth,
    /// `nW`: the weekday (Monday-Friday) nearest to day n, within the same month.
    NearestWeekday(u32),
    /// Day-of-week values, 1 = Sunday (day-of-month is `?`).
    WeekDays(ValueSet),
    /// `nL` in day-of-week: the month's last weekday n.
    LastWeekday(u32),
    /// `n#k`: the month's k-th weekday n.
    NthWeekday(u32, u32),
}

/// A parsed EventBridge cron expression, evaluated independently of croner.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EventBridgeCron {
    minutes: ValueSet,
    hours: ValueSet,
    days: DaySpec,
    months: ValueSet,
    years: ValueSet,
}

/// Parses the six fields inside `cron(...)`; returns the normalised expression.
fn parse_eventbridge_cron(body: &str) -> Result<(String, EventBridgeCron), CronError> {
    let fields: Vec<String> = body.split_whitespace().map(str::to_ascii_uppercase).collect();
    let [minute, hour, dom, month, dow, year] =
        <[String; 6]>::try_from(fields).map_err(|fields| CronError::FieldCount {
            input: format!("cron({})", body.trim()),
            found: fields.len(),
            expected: 6,
            layout: "minutes hours day-of-month month day-of-week year",
        })?;
    let days = match (dom.as_str(), dow.as_str()) {
        ("?", "?") => return Err(CronError::DayQuestionMark { dom, dow }),
        (_, "?") => parse_month_days(&EVENTBRIDGE[2], &dom)?,
        ("?", _) => parse_week_days(&EVENTBRIDGE[4], &dow)?,
        _ => return Err(CronError::DayQuestionMark { dom, dow }),
    };
    let cron = EventBridgeCron {
        minutes: parse_list(&EVENTBRIDGE[0], &minute)?,
        hours: parse_list(&EVENTBRIDGE[1], &hour)?,
        days,
        months: parse_list(&EVENTBRIDGE[3], &month)?,
        years: parse_list(&EVENTBRIDGE[5], &year)?,
    };
    Ok((format!("cron({minute} {hour} {dom} {month} {dow} {year})"), cron))
}

/// A list of `*`, `n`, `a-b`, `*/s`, `n/s` or `a-b/s` items.
fn parse_list(spec: &FieldSpec, text: &str) -> Result<ValueSet, CronError> {
    let mut set = ValueSet::new(spec.min);
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(spec.step(text, step)?)),
            None => (item, None),
        };
        if step.is_some() && spec.field == CronField::DayOfWeek {
            let reason = "EventBridge allows no `/` steps in day-of-week; list the days instead";
            return Err(spec.error(text, reason));
        }
        let (lo, hi) = if range == "*" {
            if text != "*" && step.is_none() {
                return Err(spec.error(text, "`*` must stand alone"));
            }
            (spec.min, spec.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (lo, hi) = (spec.value(text, a)?, spec.value(text, b)?);
            if lo > hi {
                return Err(spec.error(text, format!("range `{range}` runs backwards")));
            }
            (lo, hi)
        } else {
            let v = spec.value(text, range)?;
            (v, if step.is_some() { spec.max } else { v })
        };
        (lo..=hi)
            .step_by(step.unwrap_or(1) as usize)
            .for_each(|v| set.insert(v));
    }
    Ok(set)
}

fn parse_month_days(spec: &FieldSpec, text: &str) -> Result<DaySpec, CronError> {
    if text == "L" {
        Ok(DaySpec::LastDayOfMonth)
    } else if let Some(day) = text.strip_suffix('W').filter(|d| d.bytes().all(|b| b.is_ascii_digit())) {
        Ok(DaySpec::NearestWeekday(spec.value(text, day)?))
    } else if text.contains(['L', 'W']) {
        Err(spec.error(text, "`L` and `W` must stand alone, as in `L` or `15W`"))
    } else {
        parse_list(spec, text).map(DaySpec::MonthDays)
    }
}

fn parse_week_days(spec: &FieldSpec, text: &str) -> Result<DaySpec, CronError> {
    if text == "L" {
        let mut saturday = ValueSet::new(spec.min);
        saturday.insert(7);
        Ok(DaySpec::WeekDays(saturday))
    } else if let Some((day, nth)) = text.split_once('#') {
        if text.contains(',') {
            return Err(spec.error(text, "a `#` item must stand alone, as in `3#2`"));
        }
        match nth.parse::<u32>() {
            Ok(k) if (1..=5).contains(&k) => Ok(DaySpec::NthWeekday(spec.value(text, day)?, k)),
            _ => Err(spec.error(text, format!("occurrence `{nth}` after `#` must be 1-5"))),
        }
    } else if let Some(day) = text.strip_suffix('L') {
        Ok(DaySpec::LastWeekday(spec.value(text, day)?))
    } else {
        parse_list(spec, text).map(DaySpec::WeekDays)
    }
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    let (year, month) = (date.year(), date.month());
    let (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    NaiveDate::from_ymd_opt(year, month, 1)
}

fn days_in_month(date: NaiveDate) -> u32 {
    first_of_next_month(date)
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day())
}

impl EventBridgeCron {
    fn matches_day(&self, date: NaiveDate) -> bool {
        let day = date.day();
        let weekday = date.weekday().number_from_sunday(); // 1 = Sunday, as in EventBridge
        let last = days_in_month(date);
        match self.days {
            DaySpec::MonthDays(days) => days.contains(day),
            DaySpec::LastDayOfMonth => day == last,
            DaySpec::NearestWeekday(n) => n <= last && day == nearest_weekday(date, n, last),
            DaySpec::WeekDays(days) => days.contains(weekday),
            DaySpec::LastWeekday(w) => weekday == w && day + 7 > last,
            DaySpec::NthWeekday(w, k) => weekday == w && (day - 1) / 7 + 1 == k,
        }
    }

    /// Walks the calendar day by day (skipping whole years and months that cannot
    /// match) and maps each matching wall-clock minute to an instant in `tz`.
    /// Mapping wall-clock times to their earliest instants is strictly increasing,
    /// so wall-clock times up to `after`'s own are skipped without a look-up.
    fn next_runs(&self, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Tz>> {
        let mut runs = Vec::with_capacity(n.min(1024));
        let local = after.with_timezone(&tz).naive_local();
        let mut date = local
            .date()
            .max(NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date"));
        while runs.len() < n && date.year() <= MAX_YEAR {
            let year = date.year();
            let next_date = if !self.years.contains(year as u32) {
                NaiveDate::from_ymd_opt(year + 1, 1, 1)
            } else if !self.months.contains(date.month()) {
                first_of_next_month(date)
            } else {
                if self.matches_day(date) {
                    for (hour, minute) in self.hours.iter().flat_map(|h| self.minutes.iter().map(move |m| (h, m))) {
                        let Some(wall) = date.and_hms_opt(hour, minute, 0).filter(|w| *w > local) else {
                            continue;
                        };
                        // A time in a DST gap has no instant and is skipped; a repeated
                        // time runs once, at the earlier instant.
                        let Some(run) = tz.from_local_datetime(&wall).earliest() else {
                            continue;
                        };
                        if run > after {
                            runs.push(run);
                            if runs.len() == n {
                                break;
                            }
                        }
                    }
                }
                date.succ_opt()
            };
            let Some(next_date) = next_date else { break };
            date = next_date;
        }
        runs
    }
}

/// The day a `nW` item picks in a month with `last` days (`n <= last`).
fn nearest_weekday(date: NaiveDate, n: u32, last: u32) -> u32 {
    match date.with_day(n).map(|d| d.weekday()) {
        Some(chrono::Weekday::Sat) if n == 1 => 3,
        Some(chrono::Weekday::Sat) => n - 1,
        Some(chrono::Weekday::Sun) if n == last => n - 2,
        Some(chrono::Weekday::Sun) => n + 1,
        _ => n,
    }
}

// ---- rate(...) ---------------------------------------------------------------

fn parse_rate(input: &str, body: &str) -> Result<(String, TimeDelta), CronError> {
    rate_parts(body).map_err(|reason| CronError::InvalidRate {
        input: input.to_string(),
        reason,
    })
}

fn rate_parts(body: &str) -> Result<(String, TimeDelta), String> {
    let parts: Vec<&str> = body.split_whitespace().collect();
    let [value, unit] = parts[..] else {
        return Err("expected `rate(value unit)`, e.g. `rate(5 minutes)`".into());
    };
    let value = Some(value)
        .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("value `{value}` must be a positive whole number"))?;
    let unit = unit.to_ascii_lowercase();
    let (singular, minutes) = match unit.trim_end_matches('s') {
        "minute" => ("minute", 1),
        "hour" => ("hour", 60),
        "day" => ("day", 24 * 60),
        _ => {
            return Err(format!("unit `{unit}` must be minute(s), hour(s) or day(s)"));
        }
    };
    let (canonical, rule) = match value {
        1 => (singular.to_string(), "the singular unit for 1"),
        _ => (format!("{singular}s"), "a plural unit above 1"),
    };
    if unit != canonical {
        return Err(format!("EventBridge requires {rule}: `rate({value} {canonical})`"));
    }
    let period = TimeDelta::minutes(i64::from(value) * minutes);
    Ok((format!("rate({value} {canonical})"), period))
}

// ---- Unix cron: validation with croner and conversion ----------------------

fn unix_parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
}

/// Validates a Unix cron (or crontab nickname such as `@daily`) and returns the
/// equivalent `cron(...)` expression.
fn convert_unix(input: &str) -> Result<(String, EventBridgeCron), CronError> {
    let expanded = match input.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ if input.starts_with('@') => {
            return Err(CronError::Unrecognised {
                input: input.to_string(),
            });
        }
        _ => input,
    };
    let fields: Vec<String> = expanded.split_whitespace().map(str::to_ascii_uppercase).collect();
    if fields.len() != 5 {
        return Err(CronError::FieldCount {
            input: input.to_string(),
            found: fields.len(),
            expected: 5,
            layout: "minute hour day-of-month month day-of-week",
        });
    }
    for (i, (spec, text)) in UNIX.iter().zip(&fields).enumerate() {
        check_plain_unix(spec, text)?;
        // Ask croner about this field alone, so that its verdict names the field.
        let mut probe = ["*"; 5];
        probe[i] = text;
        unix_parser()
            .parse(&probe.join(" "))
            .map_err(|e| spec.error(text, croner_reason(&e)))?;
    }
    let unconvertible = || CronError::Unconvertible {
        input: input.to_string(),
    };
    let unix = unix_parser().parse(&fields.join(" ")).map_err(|_| unconvertible())?;
    let (dom, dow) = (&fields[2], &fields[4]);
    if dom != "*" && dow != "*" {
        let (dom, dow) = (dom.clone(), dow.clone());
        return Err(CronError::BothDayFields {
            input: input.to_string(),
            dom,
            dow,
        });
    }
    let (dom, dow) = if dow == "*" {
        (render_field(&UNIX[2], dom)?, "?".to_string())
    } else {
        ("?".to_string(), render_weekdays(dow)?)
    };
    let minute = render_field(&UNIX[0], &fields[0])?;
    let hour = render_field(&UNIX[1], &fields[1])?;
    let month = render_field(&UNIX[3], &fields[3])?;
    let expression = format!("cron({minute} {hour} {dom} {month} {dow} *)");
    // Every accepted expression must be valid EventBridge and mean the same as in croner.
    let (_, converted) = parse_eventbridge_cron(&expression[5..expression.len() - 1])?;
    if !same_schedule(&unix, &converted) {
        return Err(unconvertible());
    }
    Ok((expression, converted))
}

/// Plain Unix cron only: numbers, names, `*`, `,`, `-` and `/`.
fn check_plain_unix(spec: &FieldSpec, text: &str) -> Result<(), CronError> {
    let eventbridge_only = |what: &str| {
        spec.error(
            text,
            format!("`{what}` is not plain Unix cron; use the EventBridge form `cron(...)` for it"),
        )
    };
    for c in text.chars() {
        match c {
            '0'..='9' | '*' | ',' | '-' | '/' | 'A'..='Z' => {}
            '#' | '?' => return Err(eventbridge_only(&c.to_string())),
            _ => return Err(spec.error(text, format!("unexpected character `{c}`"))),
        }
    }
    for word in text.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| !w.is_empty()) {
        if matches!(word, "L" | "W" | "LW") {
            return Err(eventbridge_only(word));
        } else if spec.names.is_empty() {
            return Err(spec.error(
                text,
                "names are only allowed in month (JAN-DEC) and day-of-week (SUN-SAT)",
            ));
        } else if !spec.names.contains(&word) {
            return Err(spec.error(text, format!("unknown name `{word}`")));
        }
    }
    if text.split(',').any(str::is_empty) {
        return Err(spec.error(text, "empty item in list"));
    }
    Ok(())
}

fn croner_reason(error: &croner::errors::CronError) -> String {
    use croner::errors::CronError as E;
    let reason = match error {
        E::ComponentError(m) | E::InvalidPattern(m) | E::IllegalCharacters(m) => m.clone(),
        other => other.to_string(),
    };
    let reason = reason.trim_end_matches('.');
    let mut chars = reason.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}

/// Minute, hour, day-of-month or month: same syntax in EventBridge, except steps.
fn render_field(spec: &FieldSpec, text: &str) -> Result<String, CronError> {
    let names_only = !text.contains(|c: char| c.is_ascii_digit() || c == '*');
    let mut items = Vec::new();
    for item in text.split(',') {
        items.push(match item.split_once('/') {
            Some((range, step)) => match render_step(spec, text, range, step)? {
                Some(item) => item,
                None => return Ok("*".to_string()), // the item covers the whole field
            },
            None if names_only || item == "*" => item.to_string(),
            None => match item.split_once('-') {
                Some((a, b)) => format!("{}-{}", spec.value(text, a)?, spec.value(text, b)?),
                None => spec.value(text, item)?.to_string(),
            },
        });
    }
    Ok(items.join(","))
}

/// A Unix `*/s` or `a-b/s` item in EventBridge's documented `start/step` form, or
/// as a list where the steps stop before the field's end; `None` for every value.
fn render_step(spec: &FieldSpec, text: &str, range: &str, step: &str) -> Result<Option<String>, CronError> {
    let (lo, hi) = unix_bounds(spec, text, range)?;
    let step = spec.step(text, step).unwrap_or(spec.max - spec.min + 1); // croner allows more
    let values: Vec<String> = (lo..=hi).step_by(step as usize).map(|v| v.to_string()).collect();
    let last = lo + step * (values.len() as u32 - 1);
    Ok(if values.len() as u32 == spec.max - spec.min + 1 {
        None
    } else if step == 1 && values.len() > 1 {
        Some(format!("{lo}-{last}"))
    } else if values.len() == 1 || last + step <= spec.max {
        Some(values.join(","))
    } else {
        Some(format!("{lo}/{step}"))
    })
}

/// Bounds of a Unix range: `*`, `a-b` or `a`. As in croner, `SUN` ends a range as 7.
fn unix_bounds(spec: &FieldSpec, text: &str, range: &str) -> Result<(u32, u32), CronError> {
    Ok(match range.split_once('-') {
        _ if range == "*" => (spec.min, spec.max),
        Some((a, "SUN")) if spec.field == CronField::DayOfWeek => (spec.value(text, a)?, 7),
        Some((a, b)) => (spec.value(text, a)?, spec.value(text, b)?),
        None => (spec.value(text, range)?, spec.value(text, range)?),
    })
}

/// Day-of-week: renumbered (Unix 0/7 = Sunday, EventBridge 1 = Sunday), ranges
/// through Sunday split (no wrap-around), steps listed (EventBridge has none here).
fn render_weekdays(text: &str) -> Result<String, CronError> {
    let spec = &UNIX[4];
    let names = !text.contains(|c: char| c.is_ascii_digit() || c == '*');
    let day = |v: u32| {
        if names {
            WEEKDAYS[(v % 7) as usize].to_string()
        } else {
            (v % 7 + 1).to_string()
        }
    };
    let mut items: Vec<String> = Vec::new();
    for item in text.split(',') {
        let (range, step) = item.split_once('/').map_or((item, None), |(r, s)| (r, Some(s)));
        let (lo, hi) = unix_bounds(spec, text, range)?;
        match step {
            Some(step) => {
                let step = spec.step(text, step).unwrap_or(8) as usize;
                items.extend((lo..=hi).step_by(step).map(day));
            }
            None if lo == hi => items.push(day(lo)),
            None if hi < 7 => items.push(format!("{}-{}", day(lo), day(hi))),
            None if lo == 0 => items.push(format!("{}-{}", day(0), day(6))),
            None if lo == 6 => items.extend([day(6), day(7)]),
            None => items.extend([format!("{}-{}", day(lo), day(6)), day(7)]),
        }
    }
    let mut unique: Vec<String> = Vec::new();
    for item in items {
        if !unique.contains(&item) {
            unique.push(item);
        }
    }
    Ok(unique.join(","))
}

/// Whether the converted expression selects exactly the values croner parsed.
fn same_schedule(unix: &croner::Cron, cron: &EventBridgeCron) -> bool {
    let p = &unix.pattern;
    let set = |c: &croner::CronComponent, base: u32, shift: u32| {
        let mut set = ValueSet::new(base);
        c.values().into_iter().for_each(|v| set.insert(u32::from(v) + shift));
        set
    };
    let days = match cron.days {
        DaySpec::MonthDays(days) => p.is_dow_wildcard() && days == set(&p.days, 1, 0),
        DaySpec::WeekDays(days) => p.is_dom_wildcard() && days == set(&p.days_of_week, 1, 1),
        _ => false,
    };
    days && cron.minutes == set(&p.minutes, 0, 0)
        && cron.hours == set(&p.hours, 0, 0)
        && cron.months == set(&p.months, 1, 0)
        && cron.years.iter().count() == (MAX_YEAR - 1969) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDateTime, Offset};
    use proptest::prelude::*;

    /// A UTC instant written `YYYY-MM-DD HH:MM`.
    fn at(text: &str) -> DateTime<Utc> {
        NaiveDateTime::parse_from_str(text, "%F %R").unwrap().and_utc()
    }

    /// The next `n` runs, in UTC and written as [`at`] reads them.
    fn runs(expr: &str, tz: &str, after: &str, n: usize) -> Vec<String> {
        let schedule = ScheduleExpression::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let runs = schedule.next_runs(parse_timezone(tz).unwrap(), at(after), n);
        runs.iter()
            .map(|t| t.with_timezone(&Utc).format("%F %R").to_string())
            .collect()
    }

    fn assert_rejected(input: &str, needles: &[&str]) {
        let message = ScheduleExpression::parse(input).unwrap_err().to_string();
        for needle in needles {
            assert!(message.contains(needle), "{input}: {message:?} lacks {needle:?}");
        }
    }

    #[test]
    fn converts_unix_cron() {
        let cases = [
            ("* * * * *", "cron(* * * * ? *)"),
            ("0 7 * * MON", "cron(0 7 ? * MON *)"),
            ("0 7 * * 1", "cron(0 7 ? * 2 *)"),
            ("0 0 * * 0", "cron(0 0 ? * 1 *)"),
            ("0 0 * * 7", "cron(0 0 ? * 1 *)"),
            ("30 6 1 * *", "cron(30 6 1 * ? *)"),
            ("*/15 9-17 * * 1-5", "cron(0/15 9-17 ? * 2-6 *)"),
            ("0 12 * * 5-7", "cron(0 12 ? * 6-7,1 *)"),
            ("0 0 1 1 *", "cron(0 0 1 1 ? *)"),
            ("0 9 * * mon-fri", "cron(0 9 ? * MON-FRI *)"),
            ("0 9 * * FRI-SUN", "cron(0 9 ? * FRI-SAT,SUN *)"),
            ("0 9 * * 6,0", "cron(0 9 ? * 7,1 *)"),
            ("0 9 * * 0-7", "cron(0 9 ? * 1-7 *)"),
            ("0 0 * * */2", "cron(0 0 ? * 1,3,5,7 *)"),
            ("0 0 */2 * *", "cron(0 0 1/2 * ? *)"),
            ("0 */6 * jan,JUL *", "cron(0 0/6 * JAN,JUL ? *)"),
            ("5-20/5 * * * *", "cron(5,10,15,20 * * * ? *)"),
            ("10-59/20 0-23/1 * * *", "cron(10/20 * * * ? *)"),
            ("0-56/1 1-5/1 * * *", "cron(0-56 1-5 * * ? *)"),
            ("*/90 * * * *", "cron(0 * * * ? *)"),
            ("@daily", "cron(0 0 * * ? *)"),
            ("@weekly", "cron(0 0 ? * 1 *)"),
        ];
        for (unix, expected) in cases {
            let schedule = ScheduleExpression::parse(unix).unwrap_or_else(|e| panic!("{unix}: {e}"));
            assert_eq!(schedule.expression(), expected, "{unix}");
            assert_eq!((schedule.kind(), schedule.source()), (ScheduleKind::Cron, unix));
        }
    }

    #[test]
    fn rejects_with_messages_that_name_the_problem() {
        assert_rejected(
            "0 0 1 * 1",
            &["day-of-month (`1`)", "day-of-week (`1`)", "two schedules"],
        );
        assert_rejected("60 * * * *", &["minute field `60`", "0-59"]);
        assert_rejected("* * * *", &["expected 5 fields", "found 4"]);
        assert_rejected("@reboot", &["not a schedule expression"]);
        assert_rejected("0 0 * * 8", &["day-of-week field `8`", "0-7"]);
        assert_rejected("0 0 L * *", &["`L`", "cron(...)"]);
        assert_rejected("0 0 * * 1#2", &["`#`", "cron(...)"]);
        assert_rejected("MON * * * *", &["minute field", "names are only allowed"]);
        assert_rejected("0 0 * FOO *", &["unknown name `FOO`"]);
        assert_rejected("rate(0 minutes)", &["positive whole number"]);
        assert_rejected("rate(1 minutes)", &["rate(1 minute)"]);
        assert_rejected("rate(5 hour)", &["rate(5 hours)"]);
        assert_rejected("rate(5 weeks)", &["unit `weeks`"]);
        assert_rejected(" ", &["empty"]);
        let message = parse_timezone("Mars/Base").unwrap_err().to_string();
        assert!(message.contains("`Mars/Base`"), "{message}");
        assert_eq!(parse_timezone("Europe/Berlin"), Ok(chrono_tz::Europe::Berlin));
    }

    #[test]
    fn validates_eventbridge_expressions() {
        let unchanged = [
            "cron(0/15 9-17 ? * 2-6 2025-2030)",
            "cron(*/5 * L * ? *)",
            "cron(0 0 15W * ? *)",
            "cron(0 0 ? * 6L *)",
            "cron(0 0 ? * 3#2 *)",
            "rate(1 hour)",
        ];
        let normalised = [
            ("cron(0 7 ? * mon *)", "cron(0 7 ? * MON *)"),
            ("  cron( 0  7 1 * ? * ) ", "cron(0 7 1 * ? *)"),
            ("rate(10 Days)", "rate(10 days)"),
        ];
        let pairs = unchanged.iter().map(|e| (*e, *e)).chain(normalised);
        for (input, expected) in pairs {
            let schedule = ScheduleExpression::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(schedule.expression(), expected);
        }
        assert_rejected("cron(0 7 * * MON *)", &["exactly one"]);
        assert_rejected("cron(0 7 ? * ? *)", &["exactly one"]);
        assert_rejected("cron(0 7 ? * 0 *)", &["day-of-week field `0`", "1 is Sunday"]);
        assert_rejected("cron(0 0 * * ?)", &["expected 6"]);
        assert_rejected("cron(0 0 * * ? 2200)", &["year field `2200`", "1970-2199"]);
        assert_rejected("cron(0 0 ? * 3#1,6#3 *)", &["stand alone"]);
        assert_rejected("cron(0 0 ? * 1/2 *)", &["no `/` steps"]);
        assert_rejected("cron(0 0 1-5W * ? *)", &["stand alone"]);
        assert_rejected("cron(0 0 ? * 3#6 *)", &["must be 1-5"]);
        assert_rejected("cron(0 22-2 * * ? *)", &["runs backwards"]);
        assert_rejected("cron(*/60 * * * ? *)", &["step `60`"]);
        assert_rejected("cron(0 ? * * ? *)", &["hour field", "`?` must stand alone"]);
        assert_rejected("at(2025-01-01T00:00:00)", &["not a schedule expression"]);
    }

    #[test]
    fn evaluates_eventbridge_day_rules() {
        let jan = "2025-01-01 00:00";
        assert_eq!(
            runs("cron(0 0 L * ? *)", "UTC", jan, 2),
            ["2025-01-31 00:00", "2025-02-28 00:00"]
        );
        // 15W: 2025-03-15 is a Saturday, 2025-06-15 a Sunday.
        let nearest_weekday = runs("cron(0 0 15W * ? 2025)", "UTC", jan, 6);
        let expected = [
            "2025-03-14 00:00",
            "2025-04-15 00:00",
            "2025-05-15 00:00",
            "2025-06-16 00:00",
        ];
        assert_eq!(nearest_weekday[2..], expected);
        // Last Friday, second Tuesday, and `L` alone: Saturday.
        assert_eq!(runs("cron(0 0 ? * 6L *)", "UTC", jan, 1), ["2025-01-31 00:00"]);
        assert_eq!(runs("cron(0 0 ? * TUE#2 *)", "UTC", jan, 1), ["2025-01-14 00:00"]);
        assert_eq!(runs("cron(0 0 ? * L *)", "UTC", jan, 1), ["2025-01-04 00:00"]);
        // The year field bounds the runs; an impossible date never runs.
        assert_eq!(runs("cron(0 0 1 1 ? 2025-2026)", "UTC", jan, 5), ["2026-01-01 00:00"]);
        assert!(runs("cron(0 0 30 2 ? *)", "UTC", jan, 5).is_empty());
        // Evaluated in the given zone, strictly after `after`.
        let berlin = runs("0 7 * * MON", "Europe/Berlin", "2025-01-06 06:00", 1);
        assert_eq!(berlin, ["2025-01-13 06:00"]);
    }

    #[test]
    fn follows_eventbridge_daylight_saving_rules() {
        let ny = "America/New_York";
        // Spring forward on 2025-03-09 at 02:00: 02:30 does not exist that day.
        let runs_across_gap = runs("30 2 * * *", ny, "2025-03-08 12:00", 2);
        assert_eq!(runs_across_gap, ["2025-03-10 06:30", "2025-03-11 06:30"]);
        // Fall back on 2025-11-02 at 02:00: 01:00-01:59 happens twice and runs once.
        let runs_across_fold = runs("30 1 * * *", ny, "2025-11-01 12:00", 2);
        assert_eq!(runs_across_fold, ["2025-11-02 05:30", "2025-11-03 06:30"]);
        let half_hourly = runs("*/30 * * * *", ny, "2025-11-02 04:45", 3);
        assert_eq!(
            half_hourly,
            ["2025-11-02 05:00", "2025-11-02 05:30", "2025-11-02 07:00"]
        );
        // From the second pass through the repeated hour.
        assert_eq!(runs("*/30 * * * *", ny, "2025-11-02 06:10", 1), ["2025-11-02 07:00"]);
    }

    #[test]
    fn rate_runs_are_fixed_durations_from_after() {
        let start = "2025-03-08 12:00";
        assert_eq!(
            runs("rate(5 minutes)", "UTC", start, 2),
            ["2025-03-08 12:05", "2025-03-08 12:10"]
        );
        // A day is 24 hours, also across New York's spring-forward.
        let daily = runs("rate(1 day)", "America/New_York", start, 2);
        assert_eq!(daily, ["2025-03-09 12:00", "2025-03-10 12:00"]);
        assert_eq!(
            ScheduleExpression::parse("rate(1 day)").unwrap().kind(),
            ScheduleKind::Rate
        );
    }

    // ---- croner on Unix input vs. our evaluator on the converted expression ----

    const ZONES: [&str; 5] = [
        "UTC",
        "America/New_York",
        "Europe/Berlin",
        "Australia/Sydney",
        "Asia/Kolkata",
    ];

    /// croner on the Unix expression, walked in wall-clock time and mapped to instants
    /// with EventBridge's DST rule (a skipped time never runs, a repeated one once).
    fn croner_runs(unix: &str, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Tz>> {
        let cron: croner::Cron = unix.parse().unwrap();
        let start = after.with_timezone(&tz).naive_local() - TimeDelta::hours(3);
        cron.iter_after(start)
            .take_while(|wall| wall.year() <= MAX_YEAR)
            .filter_map(|wall| tz.from_local_datetime(&wall).earliest())
            .filter(|run| *run > after)
            .take(n)
            .collect()
    }

    /// When (to 15 minutes) `tz` changes its UTC offset during `year`.
    fn offset_changes(tz: Tz, year: i32) -> Vec<DateTime<Utc>> {
        let offset = |t: DateTime<Utc>| t.with_timezone(&tz).offset().fix();
        let mut t = at(&format!("{year}-01-01 00:00"));
        let mut changes = Vec::new();
        while t.year() == year {
            let next = t + TimeDelta::hours(6);
            if offset(t) != offset(next) {
                let mut change = t;
                while offset(change) == offset(t) {
                    change += TimeDelta::minutes(15);
                }
                changes.push(change);
            }
            t = next;
        }
        changes
    }

    fn numeric_item(min: u32, max: u32) -> impl Strategy<Value = String> {
        let range = move |(a, b): (u32, u32)| format!("{}-{}", a.min(b), a.max(b));
        prop_oneof![
            3 => (min..=max).prop_map(|v| v.to_string()),
            2 => (min..=max, min..=max).prop_map(range),
            1 => (1..=max - min + 2).prop_map(|s| format!("*/{s}")),
            1 => (min..=max, min..=max, 1..=8u32)
                .prop_map(move |(a, b, s)| format!("{}/{s}", range((a, b)))),
        ]
    }

    /// Numbers, names and name ranges; with `wrap` a range may end on the first name
    /// (`FRI-SUN`, where `SUN` ends a range as 7).
    fn named_item(names: &'static [&str], min: u32, max: u32, wrap: bool) -> impl Strategy<Value = String> {
        let count = names.len();
        let range = move |(a, b): (usize, usize)| {
            let (a, b) = (a.min(b), a.max(b).max(1)); // `SUN-SUN` would be the whole week
            format!("{}-{}", names[a], names[b % count])
        };
        prop_oneof![
            numeric_item(min, max),
            (0..count).prop_map(move |i| names[i].to_string()),
            (0..count, 0..count + usize::from(wrap)).prop_map(range),
        ]
    }

    fn list(item: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        prop::collection::vec(item, 1..=3).prop_map(|items| items.join(","))
    }

    fn field(item: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        prop_oneof![1 => Just("*".to_string()), 3 => list(item)]
    }

    /// Unix crons that restrict at most one day field.
    fn unix_cron() -> impl Strategy<Value = String> {
        let star = || "*".to_string();
        let days = prop_oneof![
            Just((star(), star())),
            list(numeric_item(1, 31)).prop_map(move |dom| (dom, star())),
            list(named_item(&WEEKDAYS, 0, 7, true)).prop_map(move |dow| (star(), dow)),
        ];
        let (minute, hour) = (field(numeric_item(0, 59)), field(numeric_item(0, 23)));
        let month = field(named_item(&MONTHS, 1, 12, false));
        (minute, hour, days, month)
            .prop_map(|(minute, hour, (dom, dow), month)| format!("{minute} {hour} {dom} {month} {dow}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 500,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn unix_and_converted_eventbridge_run_at_the_same_times(
            unix in unix_cron(),
            zone in 0..ZONES.len(),
            year in 1990..2090i32,
            seconds in 0..366 * 86_400i64,
            near_offset_change in any::<bool>(),
            window_hours in prop_oneof![Just(1i64), Just(6), Just(48)],
            whole_minute in any::<bool>(),
        ) {
            let tz: Tz = ZONES[zone].parse().unwrap();
            let changes = offset_changes(tz, year);
            let mut after = match changes.get(seconds as usize % changes.len().max(1)) {
                Some(change) if near_offset_change => {
                    *change - TimeDelta::seconds(seconds % (window_hours * 3600))
                }
                _ => at(&format!("{year}-01-01 00:00")) + TimeDelta::seconds(seconds),
            };
            if whole_minute {
                after -= TimeDelta::seconds(after.timestamp().rem_euclid(60));
            }
            let converted = ScheduleExpression::parse(&unix);
            // Long lists can convert to more than EventBridge's 256 characters: a
            // rejection the user is told about, not a mismatch.
            prop_assume!(!matches!(converted, Err(CronError::TooLong { .. })));
            let converted = converted.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let eventbridge = ScheduleExpression::parse(converted.expression()).unwrap();
            prop_assert_eq!(eventbridge.expression(), converted.expression());
            let expected = croner_runs(&unix, tz, after, 20);
            let actual = eventbridge.next_runs(tz, after, 20);
            prop_assert_eq!(actual, expected, "{} -> {}", unix, converted.expression());
        }
    }
}
