//! `struct stat`, `struct statx` and `struct statfs` as Linux lays them out
//! on x86_64.

pub const S_IFMT: u32 = 0o170000;
pub const S_IFIFO: u32 = 0o010000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFSOCK: u32 = 0o140000;

/// Build a device number the way Linux's `new_encode_dev` does.
pub const fn makedev(major: u32, minor: u32) -> u64 {
    ((minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)) as u64
}

/// What `stat` reports about a file. Times are nanoseconds since the epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    /// File type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: u64,
    pub blksize: u64,
    pub blocks: u64,
    pub atime: u64,
    pub mtime: u64,
    pub ctime: u64,
}

fn split_ns(ns: u64) -> (u64, u64) {
    (ns / 1_000_000_000, ns % 1_000_000_000)
}

impl Stat {
    /// The x86_64 `struct stat` (144 bytes).
    pub fn encode(&self) -> [u8; 144] {
        let mut b = [0u8; 144];
        let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        put(0, &self.dev.to_le_bytes());
        put(8, &self.ino.to_le_bytes());
        put(16, &self.nlink.to_le_bytes());
        put(24, &self.mode.to_le_bytes());
        put(28, &self.uid.to_le_bytes());
        put(32, &self.gid.to_le_bytes());
        put(40, &self.rdev.to_le_bytes());
        put(48, &self.size.to_le_bytes());
        put(56, &self.blksize.to_le_bytes());
        put(64, &self.blocks.to_le_bytes());
        for (off, t) in [(72, self.atime), (88, self.mtime), (104, self.ctime)] {
            let (s, ns) = split_ns(t);
            put(off, &s.to_le_bytes());
            put(off + 8, &ns.to_le_bytes());
        }
        b
    }

    /// The `struct statx` (256 bytes) with the basic fields (STATX_BASIC_STATS).
    pub fn encode_statx(&self) -> [u8; 256] {
        let mut b = [0u8; 256];
        let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        put(0, &STATX_BASIC_STATS.to_le_bytes());
        put(4, &(self.blksize as u32).to_le_bytes());
        put(16, &(self.nlink as u32).to_le_bytes());
        put(20, &self.uid.to_le_bytes());
        put(24, &self.gid.to_le_bytes());
        put(28, &(self.mode as u16).to_le_bytes());
        put(32, &self.ino.to_le_bytes());
        put(40, &self.size.to_le_bytes());
        put(48, &self.blocks.to_le_bytes());
        for (off, t) in [(64, self.atime), (96, self.ctime), (112, self.mtime)] {
            let (s, ns) = split_ns(t);
            put(off, &s.to_le_bytes());
            put(off + 8, &(ns as u32).to_le_bytes());
        }
        let (rmaj, rmin) = decode_dev(self.rdev);
        let (dmaj, dmin) = decode_dev(self.dev);
        put(128, &rmaj.to_le_bytes());
        put(132, &rmin.to_le_bytes());
        put(136, &dmaj.to_le_bytes());
        put(140, &dmin.to_le_bytes());
        b
    }
}

/// Every statx field Kiln fills (type, mode, nlink, uid, gid, atime, mtime,
/// ctime, ino, size, blocks); no birth time.
pub const STATX_BASIC_STATS: u32 = 0x7ff;

fn decode_dev(d: u64) -> (u32, u32) {
    let major = ((d >> 8) & 0xfff) as u32;
    let minor = ((d & 0xff) | ((d >> 12) & !0xff)) as u32;
    (major, minor)
}

pub const TMPFS_MAGIC: u64 = 0x0102_1994;
pub const PROC_SUPER_MAGIC: u64 = 0x9fa0;
pub const SYSFS_MAGIC: u64 = 0x6265_6572;
pub const PIPEFS_MAGIC: u64 = 0x5049_5045;
pub const SQUASHFS_MAGIC: u64 = 0x7371_7368;
/// Flags of `statfs`: ST_RDONLY.
pub const ST_RDONLY: u64 = 1;

/// What `statfs` reports about a file system.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatFs {
    pub magic: u64,
    pub bsize: u64,
    pub blocks: u64,
    pub bfree: u64,
    pub files: u64,
    pub ffree: u64,
    pub fsid: u64,
    pub flags: u64,
}

impl StatFs {
    /// The x86_64 `struct statfs` (120 bytes).
    pub fn encode(&self) -> [u8; 120] {
        let mut b = [0u8; 120];
        let mut put = |off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_le_bytes());
        put(0, self.magic);
        put(8, self.bsize);
        put(16, self.blocks);
        put(24, self.bfree);
        put(32, self.bfree);
        put(40, self.files);
        put(48, self.ffree);
        put(56, self.fsid);
        put(64, 255); // f_namelen
        put(72, self.bsize); // f_frsize
        put(80, self.flags);
        b
    }
}
