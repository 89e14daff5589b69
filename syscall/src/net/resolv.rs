//! The resolver configuration that follows the network configuration:
//! when an address is configured (a DHCP lease, or the manifest's static
//! one), its name servers are written to [`LEASE_RESOLV_CONF`] on the
//! `/run` tmpfs. The packager links `/etc/resolv.conf` there when the image
//! uses DHCP and names no server itself, as systemd-resolved and
//! NetworkManager do on Linux.

use crate::vfs::node::NewNode;
use crate::vfs::Cx;
use alloc::string::String;
use core::net::IpAddr;
use kiln_abi::errno::{Errno, SysResult};
use kiln_abi::fcntl::O_RDWR;

pub use kiln_image::LEASE_RESOLV_CONF;

/// Write [`LEASE_RESOLV_CONF`] (create it, or replace its contents).
pub fn write(cx: &mut Cx<'_>, servers: &[IpAddr]) -> SysResult<()> {
    let mut text = String::new();
    for s in servers {
        text.push_str(&alloc::format!("nameserver {s}\n"));
    }
    let (dir, name) = LEASE_RESOLV_CONF
        .rsplit_once('/')
        .unwrap_or(("/", LEASE_RESOLV_CONF));
    let ns = cx.facts.namespace();
    let root = ns.root();
    let dir = ns.resolve(cx, &root, dir.as_bytes(), true)?;
    let dir = dir.node();
    let node = match dir.lookup(cx, name.as_bytes()) {
        Ok(n) => n,
        Err(Errno::ENOENT) => dir.create(cx, name.as_bytes(), NewNode::File, 0o644)?,
        Err(e) => return Err(e),
    };
    let file = node.open(cx, O_RDWR)?;
    file.truncate(cx, 0)?;
    file.write(cx, 0, text.as_bytes())?;
    Ok(())
}
