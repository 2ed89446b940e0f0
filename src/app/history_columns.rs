//! The Backups table's columns: how wide each is in the width the table
//! has, so that every column shows at the window's default size (1180x760),
//! with a backup's details open beside the table too. Plain data, drawn by
//! `backups_ui`; a narrower window (or a larger scale) gets the least widths
//! and scrolls.

use chrono::{DateTime, Utc};

/// One column: its title, the least width it needs, the width it likes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Col {
    /// The header.
    pub title: &'static str,
    /// Below this its content is cut.
    pub min: f32,
    /// With this its content shows whole, badges and all.
    pub pref: f32,
}

/// The columns, in order: the row's menu, then what a backup is.
pub const COLUMNS: [Col; 9] = [
    Col {
        title: "",
        min: 24.0,
        pref: 28.0,
    },
    Col {
        title: "Date",
        min: 78.0,
        pref: FULL_DATE_WIDTH,
    },
    Col {
        title: "Project",
        min: 60.0,
        pref: 140.0,
    },
    Col {
        title: "Kind",
        min: 84.0,
        pref: 120.0,
    },
    Col {
        title: "Status",
        min: 70.0,
        pref: 86.0,
    },
    Col {
        title: "Size",
        min: 62.0,
        pref: 80.0,
    },
    Col {
        title: "Time",
        min: 44.0,
        pref: 56.0,
    },
    Col {
        title: "Rows",
        min: 56.0,
        pref: 84.0,
    },
    Col {
        title: "Copies",
        min: 70.0,
        pref: 180.0,
    },
];

/// Space between two columns.
pub const SPACING: f32 = 6.0;

/// The width below which the date leaves out its year.
pub const FULL_DATE_WIDTH: f32 = 118.0;

/// Columns that take what is left once every column has its preferred width.
const GROWS: [usize; 2] = [2, 8];

/// The width of each column in a table `available` points wide: each its
/// preferred width when they all fit, what is left going to Project and
/// Copies; else each shrunk toward its least width by the same share; never
/// below it (the table then scrolls sideways).
pub fn column_widths(available: f32) -> [f32; 9] {
    let gaps = SPACING * (COLUMNS.len() - 1) as f32;
    let room = (available - gaps).max(0.0);
    let min: f32 = COLUMNS.iter().map(|c| c.min).sum();
    let pref: f32 = COLUMNS.iter().map(|c| c.pref).sum();
    let mut out = [0.0; 9];
    if room >= pref {
        let extra = (room - pref) / GROWS.len() as f32;
        for (i, c) in COLUMNS.iter().enumerate() {
            out[i] = c.pref + if GROWS.contains(&i) { extra } else { 0.0 };
        }
    } else {
        let share = ((room - min) / (pref - min)).clamp(0.0, 1.0);
        for (i, c) in COLUMNS.iter().enumerate() {
            out[i] = (c.min + (c.pref - c.min) * share).floor();
        }
    }
    out
}

/// The date as the column shows it (UTC): `2026-11-28 16:55`, or
/// `11-28 16:55` in a column narrower than [`FULL_DATE_WIDTH`].
pub fn date_text(at: DateTime<Utc>, width: f32) -> String {
    if width >= FULL_DATE_WIDTH {
        at.format("%Y-%m-%d %H:%M").to_string()
    } else {
        at.format("%m-%d %H:%M").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(w: &[f32; 9]) -> f32 {
        w.iter().sum::<f32>() + SPACING * 8.0
    }

    #[test]
    fn wide_tables_give_the_rest_to_project_and_copies() {
        let w = column_widths(1000.0);
        assert!((total(&w) - 1000.0).abs() < 0.5, "{w:?}");
        for (i, c) in COLUMNS.iter().enumerate() {
            if GROWS.contains(&i) {
                assert!(w[i] > c.pref, "{}: {w:?}", c.title);
            } else {
                assert_eq!(w[i], c.pref, "{}", c.title);
            }
        }
    }

    #[test]
    fn narrow_tables_shrink_every_column_but_never_below_its_least() {
        // About the table's width with the details open at the default size.
        let w = column_widths(620.0);
        assert!(total(&w) <= 620.0, "{w:?}");
        for (i, c) in COLUMNS.iter().enumerate() {
            assert!(w[i] >= c.min && w[i] <= c.pref, "{}: {w:?}", c.title);
        }
        let w = column_widths(200.0);
        for (i, c) in COLUMNS.iter().enumerate() {
            assert_eq!(w[i], c.min, "{}", c.title);
        }
    }

    #[test]
    fn the_date_drops_its_year_only_when_narrow() {
        let at = DateTime::parse_from_rfc3339("2026-11-28T16:55:08Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(date_text(at, 130.0), "2026-11-28 16:55");
        assert_eq!(date_text(at, 90.0), "11-28 16:55");
    }
}
