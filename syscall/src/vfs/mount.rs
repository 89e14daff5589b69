//! The namespace the program starts with: the image read-only at `/`,
//! `/dev`, `/dev/shm`, `/proc`, `/sys`, tmpfs at `/tmp`, `/run` and at each tmpfs
//! mount of the manifest; and the console on fds 0, 1 and 2.

use super::dev::{devfs, Console};
use super::file::FileRef;
use super::file::{Cx, Description};
use super::image::ImageNode;
use super::path::{Location, Namespace};
use super::proc::{procfs, sysfs};
use super::tmpfs::Tmpfs;
use crate::imagefs::ImageFs;
use crate::platform::Platform;
use alloc::boxed::Box;
use alloc::sync::Arc;
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::fcntl::O_RDWR;
use kiln_abi::ioctl::Termios;
use kiln_image::Manifest;
use spin::Mutex;

/// First file system id handed to tmpfs mounts.
const FIRST_TMPFS_ID: u32 = 10;

/// Build the standard namespace.
pub fn standard(
    image: &Arc<ImageFs>,
    manifest: &Manifest,
    termios: Arc<Mutex<Termios>>,
    p: &mut dyn Platform,
) -> Namespace {
    let now = p.clock().realtime_ns();
    // Linux's default tmpfs size: half of RAM.
    let half = (p.info().total_ram / 2).max(1 << 20);
    let size = |s: u64| if s == 0 { half } else { s };
    let store = p.page_store();
    let mut ns = Namespace::new(ImageNode::root(image.clone()));
    ns.mount("/dev", devfs(termios));
    ns.mount(
        "/dev/shm",
        Tmpfs::new_root(FIRST_TMPFS_ID, half, 0o1777, now, store.clone()),
    );
    ns.mount("/proc", procfs());
    ns.mount("/sys", sysfs());
    ns.mount(
        "/tmp",
        Tmpfs::new_root(FIRST_TMPFS_ID + 1, half, 0o1777, now, store.clone()),
    );
    // Runtime state, as on Linux: pid files, sockets, resolv.conf.
    ns.mount(
        "/run",
        Tmpfs::new_root(FIRST_TMPFS_ID + 2, half, 0o755, now, store.clone()),
    );
    for (i, m) in manifest.tmpfs.iter().enumerate() {
        let id = FIRST_TMPFS_ID + 3 + i as u32;
        ns.mount(
            &m.path,
            Tmpfs::new_root(id, size(m.size), 0o1777, now, store.clone()),
        );
    }
    ns
}

/// The location of the manifest's working directory.
pub fn initial_cwd(cx: &mut Cx<'_>, cwd: &str) -> SysResult<Location> {
    let ns = cx.facts.namespace();
    let root = ns.root();
    let loc = ns.resolve(cx, &root, cwd.as_bytes(), true)?;
    if loc.node().kind() != super::NodeKind::Dir {
        return Err(Errno::ENOTDIR);
    }
    Ok(loc)
}

/// The console description fds 0, 1 and 2 share (read-write), known as
/// /dev/console.
pub fn console_description(cx: &mut Cx<'_>, termios: Arc<Mutex<Termios>>) -> FileRef {
    let ns = cx.facts.namespace();
    let root = ns.root();
    let loc = ns.resolve(cx, &root, b"/dev/console", true).ok();
    let node = loc.as_ref().map(|l| l.node().clone());
    Arc::new(Description::new(
        Box::new(Console { termios }),
        O_RDWR,
        node,
        loc,
    ))
}
