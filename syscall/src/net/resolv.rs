//! The resolver configuration that follows the network configuration:
//! when an address is configured (a DHCP lease, or the manifest's static
//! one), its name servers are written to [`LEASE_RESOLV_CONF`] on the
//! `/run` tmpfs. The packager links `/etc/resolv.conf` there when the image
//! uses DHCP and names no server itself, as systemd-resolved and
//! NetworkManager do on Linux.

use crate::errno::{Errno, SysResult};
use crate::fd::O_RDWR;
use crate::platform::Platform;
use crate::process::Process;
use crate::vfs::node::NewNode;
use crate::vfs::Cx;
use alloc::string::String;
use core::net::IpAddr;

/// Where the kernel keeps the current resolver configuration.
pub const LEASE_RESOLV_CONF: &str = "/run/resolv.conf";

/// Write [`LEASE_RESOLV_CONF`] (create it, or replace its contents).
pub fn write(proc: &Process, p: &mut dyn Platform, servers: &[IpAddr]) -> SysResult<()> {
    let mut text = String::new();
    for s in servers {
        text.push_str(&alloc::format!("nameserver {s}\n"));
    }
    let (dir, name) = LEASE_RESOLV_CONF
        .rsplit_once('/')
        .unwrap_or(("/", LEASE_RESOLV_CONF));
    let mut cx = Cx { p, proc };
    let root = proc.ns.root();
    let dir = proc.ns.resolve(&mut cx, &root, dir.as_bytes(), true)?;
    let dir = dir.node();
    let node = match dir.lookup(&mut cx, name.as_bytes()) {
        Ok(n) => n,
        Err(Errno::ENOENT) => dir.create(&mut cx, name.as_bytes(), NewNode::File, 0o644)?,
        Err(e) => return Err(e),
    };
    let file = node.open(&mut cx, O_RDWR)?;
    file.truncate(&mut cx, 0)?;
    file.write(&mut cx, 0, text.as_bytes())?;
    Ok(())
}
