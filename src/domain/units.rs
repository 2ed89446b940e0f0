//! Sizes and durations in words, for the CLI and the window alike.

/// `1536` → `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `3725000` ms → `1h 2m 5s`; under a minute with tenths: `4.2s`.
pub fn human_duration_ms(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms / 1000;
    if s < 60 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if s >= 3600 {
        format!("{}h {}m {}s", s / 3600, (s % 3600) / 60, s % 60)
    } else {
        format!("{}m {}s", s / 60, s % 60)
    }
}

/// `2404916` → `2,404,916`.
pub fn human_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_and_durations_read_like_a_human_wrote_them() {
        assert_eq!(super::human_bytes(512), "512 B");
        assert_eq!(super::human_bytes(1536), "1.5 KiB");
        assert_eq!(super::human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(super::human_duration_ms(3_725_000), "1h 2m 5s");
        assert_eq!(super::human_duration_ms(61_000), "1m 1s");
        assert_eq!(super::human_duration_ms(4_250), "4.2s");
        assert_eq!(super::human_count(2_404_916), "2,404,916");
        assert_eq!(super::human_count(999), "999");
        assert_eq!(super::human_count(1000), "1,000");
    }
}
