//! Allocations whose size the program (or an image) decides. They fail
//! with ENOMEM instead of aborting the kernel: the kernel heap must never
//! panic on a size that came from outside.

use alloc::vec::Vec;
use kiln_abi::errno::Errno;

/// `n` zero bytes, or ENOMEM.
pub fn zeroed(n: usize) -> Result<Vec<u8>, Errno> {
    let mut v = with_capacity(n)?;
    v.resize(n, 0);
    Ok(v)
}

/// An empty vector with room for `n` items, or ENOMEM.
pub fn with_capacity<T>(n: usize) -> Result<Vec<T>, Errno> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
    Ok(v)
}

/// Room for `more` items in `v`, or ENOMEM.
pub fn reserve<T>(v: &mut Vec<T>, more: usize) -> Result<(), Errno> {
    v.try_reserve(more).map_err(|_| Errno::ENOMEM)
}

/// A copy of `s`, or ENOMEM.
pub fn to_vec<T: Clone>(s: &[T]) -> Result<Vec<T>, Errno> {
    let mut v = with_capacity(s.len())?;
    v.extend_from_slice(s);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_sizes_are_enomem_not_an_abort() {
        assert_eq!(zeroed(usize::MAX).err(), Some(Errno::ENOMEM));
        assert_eq!(zeroed(isize::MAX as usize).err(), Some(Errno::ENOMEM));
        assert_eq!(
            with_capacity::<u64>(usize::MAX / 4).err(),
            Some(Errno::ENOMEM)
        );
        let mut v = alloc::vec![1u8];
        assert_eq!(reserve(&mut v, usize::MAX), Err(Errno::ENOMEM));
        assert_eq!(zeroed(3).unwrap(), [0, 0, 0]);
        assert_eq!(to_vec(b"ab").unwrap(), b"ab");
    }
}
