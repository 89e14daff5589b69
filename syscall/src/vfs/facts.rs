//! What files may know of the running program: read-only facts for
//! `/proc/self` and for resolving paths. The process implements
//! [`ProcessFacts`]; file objects never see the process itself.

use super::file::FileRef;
use super::path::{Location, Namespace};
use crate::cred::Creds;
use crate::limits::Limits;
use crate::mm::Kind;
use crate::platform::Prot;
use alloc::vec::Vec;
use kiln_image::Manifest;

/// Read-only facts about the running program.
pub trait ProcessFacts {
    /// The program's path in the image (`/proc/self/exe`).
    fn exe(&self) -> &str;
    /// The manifest the program was started from (argv, environment).
    fn manifest(&self) -> &Manifest;
    /// The mount namespace.
    fn namespace(&self) -> &Namespace;
    /// The working directory.
    fn cwd(&self) -> &Location;
    /// The program's regions as (start, end, rights, kind), in order.
    fn regions(&self) -> Vec<(u64, u64, Prot, Kind)>;
    /// User and group ids.
    fn creds(&self) -> &Creds;
    /// The file mode creation mask.
    fn umask(&self) -> u32;
    /// Resource limits.
    fn limits(&self) -> &Limits;
    /// The open file behind descriptor `fd`.
    fn file(&self, fd: i32) -> Option<FileRef>;
    /// The open descriptors, in order.
    fn open_fds(&self) -> Vec<i32>;
}
