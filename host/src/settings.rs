//! Host-wide settings an admin changes at run time (the business-hours calendar, the repeat-sales
//! mode), each stored by name as JSON in the `settings` table. A setting never saved reads as its
//! type's default.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::CrmError;
use crate::store::{self, Conn, Tx};

/// The setting saved as `name`, or `T::default()` when there is none.
pub async fn load<T: DeserializeOwned + Default>(conn: &mut Conn, name: &str) -> Result<T, CrmError> {
    let saved: Option<String> = store::query_scalar("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    match saved {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| CrmError::Invalid(format!("stored setting '{name}' is corrupt: {e}"))),
        None => Ok(T::default()),
    }
}

/// Saves `value` as the setting `name`, replacing what was there.
pub async fn save<T: Serialize>(tx: &mut Tx, name: &str, value: &T) -> Result<(), CrmError> {
    let text = serde_json::to_string(value).map_err(|e| CrmError::Invalid(format!("setting '{name}': {e}")))?;
    store::query(
        "INSERT INTO settings (name, value) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(name)
    .bind(text)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
