//! `kiln`: build, run and inspect Kiln images.
//!
//! One module per job: [`cli`] parses the command line, [`config`] reads
//! ops-style config.json, [`spec`] merges it with the command line,
//! [`tree`] gathers host files, [`etc`] generates /etc files, [`elfcheck`]
//! vets the program, [`root`] reads a root file system, [`deps`] (with
//! [`ldconf`]) finds a dynamically linked program's libraries, [`pack`]
//! packs them with the dlopen rules and [`runtimes`]' standard libraries,
//! [`image`] writes and reads images, [`disk`] makes them self-booting disks
//! in cloud formats, [`bootcheck`] checks an image's kernel before QEMU sees
//! it, [`qemu`] builds the QEMU
//! command line, [`net`] the VM's network card and port forwards, [`accel`] picks KVM or TCG, [`run`] boots an image,
//! [`profile`] reads and symbolizes `--profile`'s samples and [`inspect`]
//! lists an image.

pub mod accel;
pub mod backtrace;
pub mod bootcheck;
pub mod cli;
pub mod config;
pub mod deps;
pub mod disk;
pub mod elfcheck;
pub mod etc;
pub mod image;
pub mod inspect;
pub mod ldconf;
pub mod log;
pub mod net;
pub mod pack;
pub mod profile;
pub mod qemu;
pub mod relay;
pub mod root;
pub mod run;
pub mod runtimes;
pub mod spec;
pub mod trace;
pub mod tree;

/// The kernel embedded at build time (see `build.rs`).
pub static KERNEL: &[u8] = include_bytes!(env!("KILN_KERNEL"));

/// Exit status of `kiln run` when the program did not report its own:
/// kiln could not start the VM, the kernel panicked, or the hypervisor
/// failed.
pub const EXIT_VM_FAILURE: i32 = 125;

/// Run `kiln` with these arguments (`args[0]` is the program name) and
/// return the process exit status.
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    cli::main(args)
}

/// FNV-1a over `data`: a cheap fingerprint (cache keys), not a security hash.
pub fn fingerprint(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
