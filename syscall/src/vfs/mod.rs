//! Files as the program sees them: file objects behind one trait
//! ([`FileObject`]), nodes of file systems behind another ([`Node`]), open
//! file descriptions shared by dups ([`Description`]), and the namespace of
//! mounts with Linux path resolution ([`Namespace`]).
//!
//! File systems: the image (read-only, [`image`]), tmpfs ([`tmpfs`]),
//! `/dev` ([`dev`]), `/proc` and `/sys` ([`proc`]); stream objects: pipes
//! ([`pipe`]) and the console ([`dev::Console`]). Sockets, eventfd and epoll
//! implement [`FileObject`] too.

pub mod dev;
pub mod dir;
pub mod facts;
pub mod file;
pub mod filedata;
pub mod image;
pub mod mount;
pub mod node;
pub mod path;
pub mod pipe;
pub mod proc;
pub mod tmpfs;

pub use facts::{MappedFile, Mapping, ProcessFacts};
pub use file::{Cx, Description, Events, FileObject, FileRef, PageSource, Reply, Request};
pub use kiln_abi::stat::{self, Stat, StatFs};
pub use node::{DirEntry, Node, NodeKind, NodeRef, SetAttr};
pub use path::{Location, Namespace};
