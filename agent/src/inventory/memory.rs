//! Memory and swap sizes from /proc/meminfo.

use parc_shared::inventory::Memory;

/// Reads MemTotal and SwapTotal; both are in KiB whatever the "kB" suffix says.
pub fn parse_meminfo(text: &str) -> Option<Memory> {
    let field = |name: &str| {
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    Some(Memory {
        total_bytes: field("MemTotal")?,
        swap_bytes: field("SwapTotal").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let desktop = "MemTotal:       16318412 kB\nMemFree:         9071720 kB\nMemAvailable:   12736328 kB\n\
Buffers:          359828 kB\nSwapCached:            0 kB\nSwapTotal:       2097148 kB\nSwapFree:        2097148 kB\n";
        let no_swap_line = "MemTotal:       24683656 kB\nMemFree:        22954260 kB\n";
        let cases = [
            (desktop, Some((16318412 * 1024, 2097148 * 1024))),
            (no_swap_line, Some((24683656 * 1024, 0))),
            ("MemFree: 12 kB\n", None),
            ("MemTotal: lots kB\n", None),
        ];
        for (text, want) in cases {
            let got = parse_meminfo(text).map(|m| (m.total_bytes, m.swap_bytes));
            assert_eq!(got, want, "{text}");
        }
    }
}
