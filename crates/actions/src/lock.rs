//! One action per repository at a time: a set of held folders, taken without waiting.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::error::{Error, Result};
use crate::root::Target;

/// The repositories an action is running on. Taking a held one fails at once with
/// [`Error::Busy`] (an HTTP 409), never waits: a second click must not queue a second discard.
///
/// Keys are resolved folders, so a symlink inside the root and the folder it points at are one
/// repository. The set lives in this process only; one server owns a state directory (the store's
/// lock file), and so one set guards the root.
#[derive(Debug, Default)]
pub struct RepoLocks {
    held: Mutex<HashSet<PathBuf>>,
}

impl RepoLocks {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes `target`'s lock until the guard is dropped, or answers [`Error::Busy`].
    pub fn try_lock(&self, target: &Target) -> Result<RepoGuard<'_>> {
        self.try_lock_path(target.name(), target.lock_key())
    }

    pub(crate) fn try_lock_path(&self, name: &str, key: &Path) -> Result<RepoGuard<'_>> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if !held.insert(key.to_owned()) {
            return Err(Error::Busy { name: name.to_owned() });
        }
        Ok(RepoGuard { locks: self, key: key.to_owned() })
    }

    /// Whether an action holds `target` now.
    pub fn is_locked(&self, target: &Target) -> bool {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).contains(target.lock_key())
    }
}

/// A held repository lock; dropping it lets the next action in.
#[derive(Debug)]
pub struct RepoGuard<'a> {
    locks: &'a RepoLocks,
    key: PathBuf,
}

impl Drop for RepoGuard<'_> {
    fn drop(&mut self) {
        self.locks.held.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_key_is_busy_until_its_guard_drops() {
        let locks = RepoLocks::new();
        let key = Path::new("/srv/git/halo");
        let guard = locks.try_lock_path("halo", key).expect("free");
        assert!(matches!(locks.try_lock_path("halo", key), Err(Error::Busy { .. })));
        assert!(locks.try_lock_path("other", Path::new("/srv/git/other")).is_ok());
        drop(guard);
        assert!(locks.try_lock_path("halo", key).is_ok());
    }
}
