//! What files may know of the running program: read-only facts for
//! `/proc/self` and for resolving paths. The process implements
//! [`ProcessFacts`]; file objects never see the process itself.

use super::file::FileRef;
use super::path::{Location, Namespace};
use crate::cred::Creds;
use crate::limits::Limits;
use crate::mm::Kind;
use crate::platform::Prot;
use alloc::string::String;
use alloc::vec::Vec;
use kiln_image::Manifest;

/// One mapping of the program, as /proc/self/maps shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub prot: Prot,
    pub kind: Kind,
    /// The mapped file of the image, and the offset in it of `start`.
    pub file: Option<MappedFile>,
}

/// The file behind a mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedFile {
    pub path: String,
    pub offset: u64,
    pub ino: u64,
}

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
    /// The program's mappings, in address order.
    fn mappings(&self) -> Vec<Mapping>;
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
    /// How many threads the program has.
    fn thread_count(&self) -> usize;
}
