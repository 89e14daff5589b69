//! GUID partition tables: the protective MBR, the primary table at LBA 1
//! and the backup at the end of the disk (UEFI spec, chapter 5), written
//! and read back.

/// Bytes per logical block.
pub const SECTOR: u64 = 512;
/// Partition entries in each table (the UEFI minimum of 16 KiB).
pub const ENTRIES: usize = 128;
/// Bytes per partition entry.
pub const ENTRY_SIZE: usize = 128;
/// Sectors the entry array takes.
pub const ENTRY_SECTORS: u64 = (ENTRIES * ENTRY_SIZE) as u64 / SECTOR;
/// First LBA a partition may use: after the MBR, the header and the entries.
pub const FIRST_USABLE: u64 = 2 + ENTRY_SECTORS;
/// Sectors at the end of the disk for the backup entries and header.
pub const BACKUP_SECTORS: u64 = ENTRY_SECTORS + 1;

const SIGNATURE: &[u8; 8] = b"EFI PART";
const REVISION: u32 = 0x0001_0000;
const HEADER_SIZE: u32 = 92;

/// A GUID in its on-disk byte order (the first three fields little-endian).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// Parse the usual text form, `C12A7328-F81F-11D2-BA4B-00A0C93EC93B`.
    pub fn parse(s: &str) -> Option<Guid> {
        let hex: String = s.chars().filter(|&c| c != '-').collect();
        if hex.len() != 32 || s.len() != 36 {
            return None;
        }
        let mut b = [0u8; 16];
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        b[0..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
        Some(Guid(b))
    }

    /// A version-4-shaped GUID made from `seed` (deterministic, so that the
    /// same input gives the same disk).
    pub fn from_seed(seed: u64, salt: u64) -> Guid {
        let a = crate::fingerprint(&[seed.to_le_bytes(), salt.to_le_bytes()].concat());
        let b =
            crate::fingerprint(&[salt.to_le_bytes(), seed.to_le_bytes(), a.to_le_bytes()].concat());
        let mut g = [0u8; 16];
        g[..8].copy_from_slice(&a.to_le_bytes());
        g[8..].copy_from_slice(&b.to_le_bytes());
        g[7] = (g[7] & 0x0f) | 0x40; // version 4 (time_hi is little-endian)
        g[8] = (g[8] & 0x3f) | 0x80; // RFC 4122 variant
        Guid(g)
    }
}

/// Partition type: BIOS boot (where GRUB's core image lives).
pub const BIOS_BOOT: &str = "21686148-6449-6E6F-744E-656564454649";
/// Partition type: EFI system partition.
pub const EFI_SYSTEM: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
/// Partition type: a Kiln image (header at the partition's first byte).
pub const KILN_IMAGE: &str = "E32D4552-814B-4BD5-8985-B0E0A321F7E9";

/// One partition: LBAs inclusive, as GPT stores them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub kind: Guid,
    pub id: Guid,
    pub first: u64,
    pub last: u64,
    pub name: String,
}

/// IEEE CRC-32 (reflected, polynomial 0xEDB88320), as GPT uses.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// The tables of a disk of `sectors` sectors.
pub struct Tables {
    /// LBA 0 to [`FIRST_USABLE`] - 1: protective MBR, header, entries.
    pub primary: Vec<u8>,
    /// The last [`BACKUP_SECTORS`] sectors: entries, then the header.
    pub backup: Vec<u8>,
    /// Byte offset of `backup` on the disk.
    pub backup_offset: u64,
}

/// Build the protective MBR and both GPTs. The partitions must lie in the
/// usable range and must not overlap (checked by the caller's plan; a
/// violation is a bug, hence the asserts).
pub fn tables(sectors: u64, disk: Guid, parts: &[Partition]) -> Tables {
    assert!(parts.len() <= ENTRIES);
    let last_usable = sectors - BACKUP_SECTORS - 1;
    let mut entries = vec![0u8; ENTRIES * ENTRY_SIZE];
    for (i, p) in parts.iter().enumerate() {
        assert!(FIRST_USABLE <= p.first && p.first <= p.last && p.last <= last_usable);
        let e = &mut entries[i * ENTRY_SIZE..(i + 1) * ENTRY_SIZE];
        e[0..16].copy_from_slice(&p.kind.0);
        e[16..32].copy_from_slice(&p.id.0);
        e[32..40].copy_from_slice(&p.first.to_le_bytes());
        e[40..48].copy_from_slice(&p.last.to_le_bytes());
        // Attributes (48..56) stay 0. The name is UTF-16LE, at most 36 units.
        for (j, unit) in p.name.encode_utf16().take(36).enumerate() {
            e[56 + 2 * j..58 + 2 * j].copy_from_slice(&unit.to_le_bytes());
        }
    }
    let entries_crc = crc32(&entries);
    let header = |mine: u64, other: u64, entries_lba: u64| {
        let mut h = vec![0u8; SECTOR as usize];
        h[0..8].copy_from_slice(SIGNATURE);
        h[8..12].copy_from_slice(&REVISION.to_le_bytes());
        h[12..16].copy_from_slice(&HEADER_SIZE.to_le_bytes());
        h[24..32].copy_from_slice(&mine.to_le_bytes());
        h[32..40].copy_from_slice(&other.to_le_bytes());
        h[40..48].copy_from_slice(&FIRST_USABLE.to_le_bytes());
        h[48..56].copy_from_slice(&last_usable.to_le_bytes());
        h[56..72].copy_from_slice(&disk.0);
        h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
        h[80..84].copy_from_slice(&(ENTRIES as u32).to_le_bytes());
        h[84..88].copy_from_slice(&(ENTRY_SIZE as u32).to_le_bytes());
        h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
        let crc = crc32(&h[..HEADER_SIZE as usize]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    };
    let last = sectors - 1;
    let mut primary = protective_mbr(sectors);
    primary.extend(header(1, last, 2));
    primary.extend(&entries);
    let mut backup = entries;
    backup.extend(header(last, 1, last - ENTRY_SECTORS));
    Tables {
        primary,
        backup,
        backup_offset: (last - ENTRY_SECTORS) * SECTOR,
    }
}

/// One partition of type 0xEE over the whole disk (capped at 2^32 - 1
/// sectors), so that MBR-only tools leave the disk alone.
fn protective_mbr(sectors: u64) -> Vec<u8> {
    let mut m = vec![0u8; SECTOR as usize];
    let e = &mut m[446..462];
    e[1..4].copy_from_slice(&[0x00, 0x02, 0x00]); // CHS of LBA 1
    e[4] = 0xee;
    e[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
    e[8..12].copy_from_slice(&1u32.to_le_bytes());
    let size = (sectors - 1).min(u32::MAX as u64) as u32;
    e[12..16].copy_from_slice(&size.to_le_bytes());
    m[510] = 0x55;
    m[511] = 0xaa;
    m
}

/// Read the primary GPT from the first [`FIRST_USABLE`] sectors of a disk:
/// the used partitions, or `None` when there is no valid table.
pub fn read(head: &[u8]) -> Option<Vec<Partition>> {
    let h = head.get(SECTOR as usize..2 * SECTOR as usize)?;
    if &h[0..8] != SIGNATURE || u32::from_le_bytes(h[12..16].try_into().ok()?) != HEADER_SIZE {
        return None;
    }
    let mut check = h[..HEADER_SIZE as usize].to_vec();
    check[16..20].fill(0);
    if crc32(&check) != u32::from_le_bytes(h[16..20].try_into().ok()?) {
        return None;
    }
    let lba = u64::from_le_bytes(h[72..80].try_into().ok()?);
    let count = u32::from_le_bytes(h[80..84].try_into().ok()?) as usize;
    let size = u32::from_le_bytes(h[84..88].try_into().ok()?) as usize;
    if size < ENTRY_SIZE || count > 1024 {
        return None;
    }
    let start = usize::try_from(lba.checked_mul(SECTOR)?).ok()?;
    let array = head.get(start..start.checked_add(count * size)?)?;
    if crc32(array) != u32::from_le_bytes(h[88..92].try_into().ok()?) {
        return None;
    }
    let mut parts = Vec::new();
    for e in array.chunks(size) {
        let kind = Guid(e[0..16].try_into().ok()?);
        if kind.0 == [0; 16] {
            continue;
        }
        let units: Vec<u16> = e[56..128]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        parts.push(Partition {
            kind,
            id: Guid(e[16..32].try_into().ok()?),
            first: u64::from_le_bytes(e[32..40].try_into().ok()?),
            last: u64::from_le_bytes(e[40..48].try_into().ok()?),
            name: String::from_utf16_lossy(&units),
        });
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn guids_use_the_mixed_endian_layout() {
        let esp = Guid::parse(EFI_SYSTEM).unwrap();
        assert_eq!(
            esp.0,
            [
                0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
                0xc9, 0x3b
            ]
        );
        assert!(Guid::parse("C12A7328F81F11D2BA4B00A0C93EC93B").is_none());
        assert!(Guid::parse("C12A7328-F81F-11D2-BA4B-00A0C93EC93X").is_none());
        let a = Guid::from_seed(7, 1);
        assert_eq!(a, Guid::from_seed(7, 1));
        assert_ne!(a, Guid::from_seed(7, 2));
        assert_eq!(a.0[7] >> 4, 4);
        assert_eq!(a.0[8] >> 6, 2);
    }

    fn sample() -> (u64, Vec<Partition>) {
        let parts = vec![
            Partition {
                kind: Guid::parse(BIOS_BOOT).unwrap(),
                id: Guid::from_seed(1, 1),
                first: 34,
                last: 2047,
                name: "BIOS boot".into(),
            },
            Partition {
                kind: Guid::parse(EFI_SYSTEM).unwrap(),
                id: Guid::from_seed(1, 2),
                first: 4096,
                last: 8191,
                name: "EFI system".into(),
            },
        ];
        (16384, parts)
    }

    #[test]
    fn tables_read_back_and_mirror_each_other() {
        let (sectors, parts) = sample();
        let t = tables(sectors, Guid::from_seed(1, 0), &parts);
        assert_eq!(t.primary.len() as u64, FIRST_USABLE * SECTOR);
        assert_eq!(t.backup.len() as u64, BACKUP_SECTORS * SECTOR);
        assert_eq!(t.backup_offset + t.backup.len() as u64, sectors * SECTOR);
        assert_eq!(read(&t.primary).unwrap(), parts);
        // Protective MBR: one 0xEE partition from LBA 1, and the signature.
        assert_eq!(t.primary[450], 0xee);
        assert_eq!(&t.primary[454..458], &1u32.to_le_bytes());
        assert_eq!(&t.primary[458..462], &((sectors - 1) as u32).to_le_bytes());
        assert_eq!(&t.primary[510..512], &[0x55, 0xaa]);
        // The backup header points back at the primary, and the entries
        // are the same bytes.
        let bh = &t.backup[t.backup.len() - SECTOR as usize..];
        assert_eq!(&bh[0..8], SIGNATURE);
        assert_eq!(
            u64::from_le_bytes(bh[24..32].try_into().unwrap()),
            sectors - 1
        );
        assert_eq!(u64::from_le_bytes(bh[32..40].try_into().unwrap()), 1);
        assert_eq!(
            u64::from_le_bytes(bh[72..80].try_into().unwrap()),
            sectors - BACKUP_SECTORS
        );
        assert_eq!(&t.backup[..ENTRIES * ENTRY_SIZE], &t.primary[1024..]);
        let mut check = bh[..92].to_vec();
        check[16..20].fill(0);
        assert_eq!(crc32(&check).to_le_bytes(), bh[16..20]);
    }

    #[test]
    fn damaged_tables_are_not_read() {
        let (sectors, parts) = sample();
        let t = tables(sectors, Guid::from_seed(1, 0), &parts);
        for at in [512 + 3, 512 + 40, 1024 + 40, 1024 + 128 + 57] {
            let mut bad = t.primary.clone();
            bad[at] ^= 1;
            assert!(read(&bad).is_none(), "flip at {at} went unnoticed");
        }
        assert!(read(&t.primary[..600]).is_none());
        assert!(read(&[0u8; 17408]).is_none());
    }

    #[test]
    fn huge_disks_cap_the_protective_partition() {
        let t = tables(1 << 40, Guid::from_seed(0, 0), &[]);
        assert_eq!(&t.primary[458..462], &u32::MAX.to_le_bytes());
    }
}
