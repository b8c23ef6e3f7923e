//! In-memory schedule store, for tests and for trying the API without AWS.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{EntryPage, Schedule, ScheduleEntry, ScheduleError, ScheduleStore};

/// Schedules in process memory (they are kept, never fired; the local runner of
/// `local-dev` fires them on a local run).
#[derive(Default)]
pub struct MemoryScheduleStore {
    schedules: Mutex<BTreeMap<String, (Schedule, DateTime<Utc>)>>,
}

impl MemoryScheduleStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ScheduleStore for MemoryScheduleStore {
    async fn create(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
        let mut schedules = self.schedules.lock().unwrap();
        if schedules.contains_key(&schedule.name) {
            return Err(ScheduleError::Exists(schedule.name.clone()));
        }
        schedules.insert(schedule.name.clone(), (schedule.clone(), Utc::now()));
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<Option<Schedule>, ScheduleError> {
        Ok(self.schedules.lock().unwrap().get(name).map(|(s, _)| s.clone()))
    }

    async fn list(&self) -> Result<Vec<Schedule>, ScheduleError> {
        Ok(self
            .schedules
            .lock()
            .unwrap()
            .values()
            .map(|(s, _)| s.clone())
            .collect())
    }

    /// By name; the token is the last name of the previous page.
    async fn page(&self, limit: u32, token: Option<&str>) -> Result<EntryPage, ScheduleError> {
        let schedules = self.schedules.lock().unwrap();
        let after = |name: &String| token.is_none_or(|t| name.as_str() > t);
        let mut entries: Vec<ScheduleEntry> = schedules
            .iter()
            .filter(|(name, _)| after(name))
            .take(limit as usize + 1)
            .map(|(name, (schedule, modified))| ScheduleEntry {
                name: name.clone(),
                enabled: schedule.enabled,
                modified: *modified,
            })
            .collect();
        let next = (entries.len() > limit as usize).then(|| {
            entries.truncate(limit as usize);
            entries.last().map(|e| e.name.clone()).unwrap_or_default()
        });
        Ok(EntryPage { entries, next })
    }

    async fn update(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
        match self.schedules.lock().unwrap().get_mut(&schedule.name) {
            Some((held, modified)) => {
                *held = Schedule {
                    created: held.created,
                    generation: held.generation.clone(),
                    ..schedule.clone()
                };
                *modified = Utc::now();
                Ok(())
            }
            None => Err(ScheduleError::NotFound(schedule.name.clone())),
        }
    }

    async fn delete(&self, name: &str) -> Result<(), ScheduleError> {
        match self.schedules.lock().unwrap().remove(name) {
            Some(_) => Ok(()),
            None => Err(ScheduleError::NotFound(name.to_owned())),
        }
    }
}
