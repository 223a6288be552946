//! An SQL pool as one of a server's live outgoing connections.

use zato_common::model::OutgoingSql;
use zato_common::sealed::Keyring;

use super::SqlPool;
use crate::connections::{Connection, PoolFigures, open_secrets};

impl Connection for SqlPool {
    type Definition = OutgoingSql;

    fn is_active(definition: &OutgoingSql) -> bool {
        definition.is_active
    }

    fn build(definition: &OutgoingSql, keyring: &Keyring) -> Result<Self, String> {
        let mut password = definition.password.clone();
        open_secrets([&mut password], keyring)?;
        SqlPool::new(definition, password.expose()).map_err(|e| e.to_string())
    }

    fn pool(&self) -> PoolFigures {
        let stats = self.stats();
        PoolFigures {
            max: stats.max,
            in_use: stats.in_use,
            waiting: stats.waiting,
        }
    }
}
