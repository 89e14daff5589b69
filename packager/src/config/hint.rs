//! "Did you mean" for unknown field names: only names a typo away.

/// Edits allowed between a typed name and a known one, by the longer
/// one's length: one for short names (`Evn`, `Prots`), two from 7
/// characters, three from 12. A swap of two neighbours counts as one edit.
fn allowed(len: usize) -> usize {
    match len {
        0..=2 => 0,
        3..=6 => 1,
        7..=11 => 2,
        _ => 3,
    }
}

/// The known name closest to `typed` (case-insensitively), if it is close
/// enough; ties go to the first in `known`.
pub fn suggest<'a>(typed: &str, known: &[&'a str]) -> Option<&'a str> {
    let t = typed.to_ascii_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for k in known {
        let d = strsim::osa_distance(&t, &k.to_ascii_lowercase());
        let len = t.chars().count().max(k.chars().count());
        if d <= allowed(len) && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, k));
        }
    }
    best.map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &[&str] = &[
        "CPUs", "GPUs", "GPUType", "Ports", "UDPPorts", "Memory", "TapName",
    ];

    #[test]
    fn typos_get_the_name_they_miss() {
        assert_eq!(suggest("Prots", RUN), Some("Ports"));
        assert_eq!(suggest("Memroy", RUN), Some("Memory"));
        assert_eq!(suggest("TapNmae", RUN), Some("TapName"));
        assert_eq!(suggest("GPU", RUN), Some("GPUs"));
        assert_eq!(suggest("udpports", RUN), Some("UDPPorts"));
    }

    #[test]
    fn far_names_get_nothing() {
        assert_eq!(suggest("Zzzzzz", RUN), None);
        assert_eq!(suggest("Disk", RUN), None);
        assert_eq!(suggest("GPUCount", RUN), None);
        assert_eq!(suggest("Cores", RUN), None);
        assert_eq!(suggest("Pt", RUN), None);
    }
}
