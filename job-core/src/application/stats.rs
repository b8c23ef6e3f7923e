//! Reading the counters.

use chrono::Utc;

use crate::stats::Stats;
use crate::store::{JobStore, StoreError};

/// The counters as of now.
pub async fn read_stats(store: &dyn JobStore) -> Result<Stats, StoreError> {
    store.stats(Utc::now()).await
}
