//! In-memory schedule store, for tests and for trying the API without AWS.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{Schedule, ScheduleError, ScheduleStore};

/// Schedules in process memory (they are kept, never fired; the local runner of
/// `local-dev` fires them on a local run).
#[derive(Default)]
pub struct MemoryScheduleStore {
    schedules: Mutex<BTreeMap<String, Schedule>>,
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
        schedules.insert(schedule.name.clone(), schedule.clone());
        Ok(())
    }

    async fn get(&self, name: &str) -> Result<Option<Schedule>, ScheduleError> {
        Ok(self.schedules.lock().unwrap().get(name).cloned())
    }

    async fn list(&self) -> Result<Vec<Schedule>, ScheduleError> {
        Ok(self.schedules.lock().unwrap().values().cloned().collect())
    }

    async fn update(&self, schedule: &Schedule) -> Result<(), ScheduleError> {
        match self.schedules.lock().unwrap().get_mut(&schedule.name) {
            Some(held) => {
                *held = Schedule {
                    created: held.created,
                    generation: held.generation.clone(),
                    ..schedule.clone()
                };
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
