//! The one way this crate takes a `std::sync::Mutex`.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, also after a holder panicked: every guarded value here is a plain set or slot
/// that stays consistent between two statements, so a panic elsewhere is no reason to stop
/// the broker client too.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
