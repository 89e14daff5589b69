//! A shared cell for socket state that must be `Send + Sync` (file objects
//! are): a reader-writer spin lock used as a `RefCell` is. Borrows are short
//! and never nested on one cell, so a conflicting borrow is a bug; it
//! panics, as `RefCell` would, instead of spinning forever.

use spin::{RwLock, RwLockReadGuard, RwLockWriteGuard};

pub(crate) struct Shared<T>(RwLock<T>);

impl<T> Shared<T> {
    pub fn new(v: T) -> Shared<T> {
        Shared(RwLock::new(v))
    }
    pub fn borrow(&self) -> RwLockReadGuard<'_, T> {
        self.0.try_read().expect("socket state borrowed mutably")
    }
    pub fn borrow_mut(&self) -> RwLockWriteGuard<'_, T> {
        self.0.try_write().expect("socket state already borrowed")
    }
}
