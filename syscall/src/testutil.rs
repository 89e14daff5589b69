//! Fakes for host tests: a Vec-backed MMU, a capturing console, a fixed
//! clock, deterministic randomness, an in-memory image, and a tiny ELF
//! writer.

use crate::mm::user::UserMem;
use crate::platform::*;
use crate::process::{Flow, Process};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec;
use alloc::vec::Vec;
use kiln_abi::context::UserContext;
use kiln_abi::errno::Errno;
use kiln_image::{Extent, Header, IndexBuilder, Manifest, HEADER_OFFSET, HEADER_SIZE};

#[derive(Default)]
pub struct FakeMmu {
    pub pages: BTreeMap<u64, (Vec<u8>, Prot)>,
    /// Fail map_zeroed once this many pages are mapped.
    pub frame_limit: Option<usize>,
    pub protect_calls: Vec<(u64, u64, Prot)>,
    /// Where map_clock_page put the clock page (None: it fails).
    pub clock_page: Option<Option<u64>>,
}

impl Mmu for FakeMmu {
    fn is_mapped(&self, page: u64) -> bool {
        self.pages.contains_key(&page)
    }
    fn map_zeroed(&mut self, page: u64, prot: Prot) -> Result<(), Errno> {
        assert_eq!(page % PAGE_SIZE, 0);
        assert!(
            !self.pages.contains_key(&page),
            "page {page:#x} mapped twice"
        );
        if self.frame_limit.is_some_and(|l| self.pages.len() >= l) {
            return Err(Errno::ENOMEM);
        }
        self.pages.insert(page, (vec![0; PAGE_SIZE as usize], prot));
        Ok(())
    }
    fn unmap(&mut self, start: u64, len: u64) {
        let keys: Vec<u64> = self
            .pages
            .range(start..start + len)
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            self.pages.remove(&k);
        }
    }
    fn protect(&mut self, start: u64, len: u64, prot: Prot) {
        self.protect_calls.push((start, len, prot));
        for (_, p) in self.pages.range_mut(start..start + len) {
            p.1 = prot;
        }
    }
    fn move_pages(&mut self, from: u64, to: u64, len: u64) -> Result<(), Errno> {
        let moving: Vec<u64> = self
            .pages
            .range(from..from + len)
            .map(|(k, _)| *k)
            .collect();
        for k in moving {
            let page = self.pages.remove(&k).unwrap();
            let dest = k - from + to;
            assert!(
                self.pages.insert(dest, page).is_none(),
                "page {dest:#x} mapped twice"
            );
        }
        Ok(())
    }
    fn read_mapped(&self, addr: u64, buf: &mut [u8]) {
        let page = addr & !(PAGE_SIZE - 1);
        let off = (addr - page) as usize;
        assert!(off + buf.len() <= PAGE_SIZE as usize);
        buf.copy_from_slice(&self.pages[&page].0[off..off + buf.len()]);
    }
    fn write_mapped(&mut self, addr: u64, data: &[u8]) {
        let page = addr & !(PAGE_SIZE - 1);
        let off = (addr - page) as usize;
        assert!(off + data.len() <= PAGE_SIZE as usize);
        self.pages.get_mut(&page).unwrap().0[off..off + data.len()].copy_from_slice(data);
    }
    fn map_clock_page(&mut self, page: u64) -> Result<(), Errno> {
        match self.clock_page {
            Some(_) => {
                self.clock_page = Some(Some(page));
                self.pages
                    .insert(page, (vec![0x5a; PAGE_SIZE as usize], Prot::READ));
                Ok(())
            }
            None => Err(Errno::ENOSYS),
        }
    }
}

#[derive(Default)]
pub struct FakeConsole {
    pub out: Vec<u8>,
    pub input: VecDeque<u8>,
    /// `--trace` lines.
    pub trace: Vec<u8>,
}

impl Console for FakeConsole {
    fn write(&mut self, data: &[u8]) {
        self.out.extend_from_slice(data);
    }
    fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.input.len());
        for b in buf.iter_mut().take(n) {
            *b = self.input.pop_front().unwrap();
        }
        n
    }
    fn input_ready(&self) -> bool {
        !self.input.is_empty()
    }
    fn trace(&mut self, data: &[u8]) {
        self.trace.extend_from_slice(data);
    }
}

pub struct FakeClock {
    pub mono: u64,
    pub real: u64,
}

impl Clock for FakeClock {
    fn monotonic_ns(&self) -> u64 {
        self.mono
    }
    fn realtime_ns(&self) -> u64 {
        self.real
    }
}

pub struct FakeRandom(pub u8);

impl Random for FakeRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
    }
}

pub struct FakeDisk(pub Vec<u8>);

impl BlockDevice for FakeDisk {
    fn read_sectors(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), Errno> {
        assert_eq!(buf.len() % 512, 0);
        let start = sector as usize * 512;
        let src = self.0.get(start..start + buf.len()).ok_or(Errno::EIO)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
}

/// An Ethernet device that keeps what is sent and hands out what a test
/// queued for receiving.
#[derive(Default)]
pub struct FakeNic {
    pub sent: Vec<Vec<u8>>,
    pub incoming: VecDeque<Vec<u8>>,
}

impl NetDevice for FakeNic {
    fn mac(&self) -> [u8; 6] {
        [0x52, 0x54, 0, 0x12, 0x34, 0x56]
    }
    fn max_frame(&self) -> usize {
        1514
    }
    fn receive(&mut self, f: &mut dyn FnMut(&[u8])) -> bool {
        match self.incoming.pop_front() {
            Some(frame) => {
                f(&frame);
                true
            }
            None => false,
        }
    }
    fn can_transmit(&mut self) -> bool {
        true
    }
    fn transmit(&mut self, frame: &[u8]) -> Result<(), Errno> {
        self.sent.push(frame.to_vec());
        Ok(())
    }
}

pub struct Fake {
    /// The network device, if the test gives the machine one.
    pub nic: Option<FakeNic>,
    pub mmu: FakeMmu,
    pub console: FakeConsole,
    pub clock: FakeClock,
    pub random: FakeRandom,
    pub disk: FakeDisk,
    pub info: MachineInfo,
    pub vdso: Option<&'static [u8]>,
    /// FPU images handed to fpu_restore.
    pub fpu_restored: Vec<[u8; 512]>,
}

impl Platform for Fake {
    fn mmu(&mut self) -> &mut dyn Mmu {
        &mut self.mmu
    }
    fn console(&mut self) -> &mut dyn Console {
        &mut self.console
    }
    fn clock(&self) -> &dyn Clock {
        &self.clock
    }
    fn random(&mut self) -> &mut dyn Random {
        &mut self.random
    }
    fn block(&mut self) -> &mut dyn BlockDevice {
        &mut self.disk
    }
    fn info(&self) -> MachineInfo {
        self.info
    }
    fn net(&mut self) -> Option<&mut dyn NetDevice> {
        self.nic.as_mut().map(|n| n as &mut dyn NetDevice)
    }
    fn vdso(&self) -> Option<&'static [u8]> {
        self.vdso
    }
    fn fpu_save(&mut self, buf: &mut [u8; 512]) {
        crate::platform::default_fpu(buf);
        buf[200] = 0x77;
    }
    fn fpu_restore(&mut self, buf: &[u8; 512]) {
        self.fpu_restored.push(*buf);
    }
}

impl Fake {
    pub fn new(image: Vec<u8>) -> Fake {
        Fake {
            nic: None,
            mmu: FakeMmu::default(),
            console: FakeConsole::default(),
            clock: FakeClock {
                mono: 5_000_000_000,
                real: 1_700_000_000_123_456_789,
            },
            random: FakeRandom(0),
            disk: FakeDisk(image),
            info: MachineInfo {
                total_ram: 64 << 20,
                free_ram: 48 << 20,
                cpus: 2,
                hwcap: 0x178b_fbff,
                hwcap2: 2,
            },
            vdso: None,
            fpu_restored: Vec::new(),
        }
    }
}

/// A file for [`image`].
pub enum Node<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

/// Build a whole image (format v1) holding `nodes`, run by `manifest`.
pub fn image(nodes: &[Node<'_>], manifest: &Manifest) -> Vec<u8> {
    let mut b = IndexBuilder::new();
    for (key, n) in nodes.iter().enumerate() {
        match n {
            Node::File(p, data) => b
                .add_file(p, data.len() as u64, 0o755, 1_600_000_000, key as u64)
                .unwrap(),
            Node::Dir(p) => b.add_dir(p, 0o755, 0).unwrap(),
            Node::Symlink(p, t) => b.add_symlink(p, t, 0).unwrap(),
        }
    }
    let man = manifest.encode();
    let man_off = HEADER_OFFSET + HEADER_SIZE as u64;
    let idx_off = kiln_image::align_up(man_off + man.len() as u64);
    let idx_len = b.build(0).index.len() as u64;
    let data_off = kiln_image::align_up(idx_off + idx_len);
    let built = b.build(data_off);
    let size = data_off + built.data_len + 4096;
    let mut img = vec![0u8; size as usize];
    let header = Header {
        image_size: size,
        kernel: Extent {
            offset: man_off,
            len: 0,
        },
        manifest: Extent {
            offset: man_off,
            len: man.len() as u64,
        },
        fs_index: Extent {
            offset: idx_off,
            len: built.index.len() as u64,
        },
        fs_data: Extent {
            offset: data_off,
            len: built.data_len,
        },
    };
    img[HEADER_OFFSET as usize..][..HEADER_SIZE].copy_from_slice(&header.encode());
    img[man_off as usize..][..man.len()].copy_from_slice(&man);
    img[idx_off as usize..][..built.index.len()].copy_from_slice(&built.index);
    for pl in &built.files {
        if let Node::File(_, data) = nodes[pl.key as usize] {
            img[pl.offset as usize..][..data.len()].copy_from_slice(data);
        }
    }
    img
}

/// A tiny ELF64 writer: text at file offset 0 (headers included, code at
/// 0x1000), data+bss in a second segment, optional PT_INTERP/PT_PHDR, and a
/// symbol table.
pub struct ElfBuilder {
    pub e_type: u16,
    pub machine: u16,
    pub base: u64,
    pub code: Vec<u8>,
    pub data: Vec<u8>,
    pub bss: u64,
    pub text_flags: u32,
    pub data_flags: u32,
    pub interp: bool,
    pub pt_phdr: bool,
    /// (name, offset into code, size)
    pub syms: Vec<(&'static str, u64, u64)>,
}

/// Where the data segment sits relative to the base.
pub const DATA_VADDR: u64 = 0x20000;

impl ElfBuilder {
    pub fn exec() -> Self {
        ElfBuilder {
            e_type: 2,
            machine: 62,
            base: 0x40_0000,
            code: vec![0xcc; 64],
            data: b"hello data".to_vec(),
            bss: 0x3000,
            text_flags: 5,
            data_flags: 6,
            interp: false,
            pt_phdr: false,
            syms: vec![("_start", 0, 16), ("main", 16, 48)],
        }
    }

    pub fn pie() -> Self {
        ElfBuilder {
            e_type: 3,
            base: 0,
            ..Self::exec()
        }
    }

    pub fn build(&self) -> Vec<u8> {
        let mut phdrs: Vec<[u64; 7]> = Vec::new(); // type|flags<<32, off, vaddr, paddr, filesz, memsz, align
        let nph = 2 + self.interp as u64 + self.pt_phdr as u64;
        let text_len = 0x1000 + self.code.len() as u64;
        let data_off = kiln_image::align_up(text_len);
        if self.pt_phdr {
            phdrs.push([
                6 | 4 << 32,
                64,
                self.base + 64,
                self.base + 64,
                nph * 56,
                nph * 56,
                8,
            ]);
        }
        if self.interp {
            phdrs.push([3 | 4 << 32, 0x200, self.base + 0x200, 0, 11, 11, 1]);
        }
        phdrs.push([
            1 | (self.text_flags as u64) << 32,
            0,
            self.base,
            self.base,
            text_len,
            text_len,
            0x1000,
        ]);
        let dv = self.base + DATA_VADDR;
        let dl = self.data.len() as u64;
        phdrs.push([
            1 | (self.data_flags as u64) << 32,
            data_off,
            dv,
            dv,
            dl,
            dl + self.bss,
            0x1000,
        ]);
        let mut f = vec![0u8; (data_off + dl) as usize];
        f[0x1000..0x1000 + self.code.len()].copy_from_slice(&self.code);
        f[data_off as usize..].copy_from_slice(&self.data);
        if self.interp {
            f[0x200..0x20b].copy_from_slice(b"/lib/ld.so\0");
        }
        for (i, ph) in phdrs.iter().enumerate() {
            let o = 64 + i * 56;
            f[o..o + 8].copy_from_slice(&ph[0].to_le_bytes());
            for (j, v) in ph[1..].iter().enumerate() {
                f[o + 8 + j * 8..o + 16 + j * 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        // Symbol table, string table, section name table, section headers.
        let mut strtab = vec![0u8];
        let mut symtab = vec![0u8; 24];
        for (name, off, size) in &self.syms {
            let mut s = [0u8; 24];
            s[..4].copy_from_slice(&(strtab.len() as u32).to_le_bytes());
            s[4] = 0x12; // STB_GLOBAL, STT_FUNC
            s[6..8].copy_from_slice(&1u16.to_le_bytes());
            s[8..16].copy_from_slice(&(self.base + 0x1000 + off).to_le_bytes());
            s[16..24].copy_from_slice(&size.to_le_bytes());
            symtab.extend_from_slice(&s);
            strtab.extend_from_slice(name.as_bytes());
            strtab.push(0);
        }
        let shstr = b"\0.symtab\0.strtab\0";
        let sym_off = f.len() as u64;
        f.extend_from_slice(&symtab);
        let str_off = f.len() as u64;
        f.extend_from_slice(&strtab);
        let shs_off = f.len() as u64;
        f.extend_from_slice(shstr);
        while !f.len().is_multiple_of(8) {
            f.push(0);
        }
        let sh_off = f.len() as u64;
        let sh = |name: u32, ty: u32, off: u64, size: u64, link: u32, entsize: u64| {
            let mut s = [0u8; 64];
            s[..4].copy_from_slice(&name.to_le_bytes());
            s[4..8].copy_from_slice(&ty.to_le_bytes());
            s[24..32].copy_from_slice(&off.to_le_bytes());
            s[32..40].copy_from_slice(&size.to_le_bytes());
            s[40..44].copy_from_slice(&link.to_le_bytes());
            s[56..64].copy_from_slice(&entsize.to_le_bytes());
            s
        };
        f.extend_from_slice(&[0u8; 64]);
        f.extend_from_slice(&sh(1, 2, sym_off, symtab.len() as u64, 2, 24));
        f.extend_from_slice(&sh(9, 3, str_off, strtab.len() as u64, 0, 0));
        f.extend_from_slice(&sh(0, 3, shs_off, shstr.len() as u64, 0, 0));
        // ELF header.
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2; // 64-bit
        f[5] = 1; // little-endian
        f[6] = 1;
        f[16..18].copy_from_slice(&self.e_type.to_le_bytes());
        f[18..20].copy_from_slice(&self.machine.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&(self.base + 0x1000).to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[40..48].copy_from_slice(&sh_off.to_le_bytes());
        f[52..54].copy_from_slice(&64u16.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(nph as u16).to_le_bytes());
        f[58..60].copy_from_slice(&64u16.to_le_bytes());
        f[60..62].copy_from_slice(&4u16.to_le_bytes());
        f[62..64].copy_from_slice(&3u16.to_le_bytes());
        f
    }
}

pub fn manifest(args: &[&str], env: &[&str]) -> Manifest {
    Manifest {
        program: "/bin/prog".into(),
        args: args.iter().map(|s| (*s).into()).collect(),
        env: env.iter().map(|s| (*s).into()).collect(),
        cwd: "/srv".into(),
        ..Default::default()
    }
}

/// A booted program with its fake machine.
pub struct Booted {
    pub fake: Fake,
    pub proc: Process,
    pub ctx: UserContext,
}

pub fn boot_elf(elf: &[u8], extra: &[Node<'_>]) -> Result<Booted, crate::process::BootError> {
    let mut nodes = vec![Node::File("/bin/prog", elf), Node::Dir("/srv")];
    nodes.extend(extra.iter().map(|n| match n {
        Node::File(a, b) => Node::File(a, b),
        Node::Dir(a) => Node::Dir(a),
        Node::Symlink(a, b) => Node::Symlink(a, b),
    }));
    let img = image(&nodes, &manifest(&["prog", "-v"], &["HOME=/", "LANG=C"]));
    let mut fake = Fake::new(img);
    let (proc, ctx) = Process::boot(&mut fake)?;
    Ok(Booted { fake, proc, ctx })
}

/// A booted sample program with boot options from `cmdline`.
pub fn booted_with(cmdline: &str) -> Booted {
    let elf = ElfBuilder::exec().build();
    let nodes = vec![Node::File("/bin/prog", &elf[..]), Node::Dir("/srv")];
    let img = image(&nodes, &manifest(&["prog", "-v"], &["HOME=/", "LANG=C"]));
    let mut fake = Fake::new(img);
    let opts = crate::process::BootOptions::from_cmdline(cmdline);
    let (proc, ctx) = Process::boot_with(&mut fake, &opts).unwrap();
    Booted { fake, proc, ctx }
}

pub fn booted() -> Booted {
    boot_elf(&ElfBuilder::exec().build(), &[]).unwrap()
}

/// A scratch read-write page area for syscall arguments.
pub const SCRATCH: u64 = 0x1000_0000;

impl Booted {
    /// Issue syscall `nr`; returns the flow and rax as a signed value.
    pub fn call(&mut self, nr: u64, args: &[u64]) -> (Flow, i64) {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        let mut ctx = UserContext {
            rax: nr,
            rdi: a[0],
            rsi: a[1],
            rdx: a[2],
            r10: a[3],
            r8: a[4],
            r9: a[5],
            ..self.ctx
        };
        let flow = self
            .proc
            .syscall(&mut self.fake, crate::process::MAIN_TID, &mut ctx);
        let rax = ctx.rax as i64;
        if flow == Flow::Continue {
            self.ctx.fs_base = ctx.fs_base;
        }
        (flow, rax)
    }

    /// Issue `nr` as thread `tid` with the registers of `ctx` (the number
    /// in rax); returns the flow, and `ctx` holds the result.
    pub fn call_ctx(&mut self, tid: crate::process::Tid, ctx: &mut UserContext) -> Flow {
        self.proc.syscall(&mut self.fake, tid, ctx)
    }

    /// Issue `nr` as thread `tid`; returns the flow and rax.
    pub fn call_as(&mut self, tid: crate::process::Tid, nr: u64, args: &[u64]) -> (Flow, i64) {
        let mut ctx = self.ctx_for(nr, args);
        let flow = self.call_ctx(tid, &mut ctx);
        (flow, ctx.rax as i64)
    }

    /// The registers of a call of `nr` with `args`.
    pub fn ctx_for(&self, nr: u64, args: &[u64]) -> UserContext {
        let mut a = [0u64; 6];
        a[..args.len()].copy_from_slice(args);
        UserContext {
            rax: nr,
            rdi: a[0],
            rsi: a[1],
            rdx: a[2],
            r10: a[3],
            r8: a[4],
            r9: a[5],
            ..self.ctx
        }
    }

    /// Issue `nr` and expect it to continue; returns rax.
    pub fn sys(&mut self, nr: u64, args: &[u64]) -> i64 {
        let (flow, rax) = self.call(nr, args);
        assert_eq!(flow, Flow::Continue, "syscall {nr} did not continue");
        rax
    }

    /// Map `pages` read-write anonymous pages at SCRATCH (MAP_FIXED).
    pub fn scratch(&mut self, pages: u64) -> u64 {
        let r = self.sys(9, &[SCRATCH, pages * PAGE_SIZE, 3, 0x32, u64::MAX, 0]);
        assert_eq!(r as u64, SCRATCH);
        SCRATCH
    }

    pub fn mem(&mut self) -> UserMem<'_> {
        self.proc.mem(&mut self.fake)
    }

    pub fn poke(&mut self, addr: u64, data: &[u8]) {
        self.mem().write(addr, data).unwrap();
    }

    pub fn peek(&mut self, addr: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        self.mem().read(addr, &mut v).unwrap();
        v
    }

    pub fn peek_u64(&mut self, addr: u64) -> u64 {
        self.mem().read_u64(addr).unwrap()
    }

    /// Write a NUL-terminated string at `addr`.
    pub fn poke_str(&mut self, addr: u64, s: &str) -> u64 {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.poke(addr, &v);
        addr
    }
}
