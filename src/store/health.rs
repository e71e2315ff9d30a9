//! Whether the database answers at all.

use super::{Store, StoreError};

impl Store {
    /// One round trip to the database.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }
}
