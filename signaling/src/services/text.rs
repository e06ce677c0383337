//! Text people type into names and titles: no control characters (they
//! break exports, calendars and logs), a bounded length. Agendas may have
//! line breaks and tabs.

/// Whether `s` is a one-line name or title: no control characters at all.
pub fn is_plain(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// Whether `s` is multi-line text: control characters only as line breaks and tabs.
pub fn is_multiline(s: &str) -> bool {
    !s.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// A CSV cell, quoted, that Excel reads as text: one that starts like a
/// formula (`=`, `+`, `-`, `@`, tab, CR) — a leave reason typed on the
/// notice page, say — is prefixed with `'`.
pub fn csv_cell(cell: &str) -> String {
    let safe = match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    };
    format!("\"{}\"", safe.replace('"', "\"\""))
}

/// A cell's text for the Excel export: control characters other than tab
/// and line feed are dropped (a sheet shows none of them), and so are the
/// non-characters U+FFFE and U+FFFF. The writer would escape each as
/// `_xHHHH_`, and one right after a literal `_x0041` read back as "A".
pub fn xlsx_cell(cell: &str) -> String {
    cell.chars()
        .filter(|c| (!c.is_control() || matches!(c, '\t' | '\n')) && !matches!(c, '\u{fffe}' | '\u{ffff}'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_look_like_formulas_stay_text() {
        assert_eq!(csv_cell("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
        for lead in ["+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(csv_cell(lead).starts_with("\"'"), "{lead}");
        }
        assert_eq!(csv_cell("防汛值班"), "\"防汛值班\"");
        assert_eq!(csv_cell(""), "\"\"");
    }

    #[test]
    fn xlsx_cells_keep_line_breaks_and_tabs_only() {
        assert_eq!(xlsx_cell("一、汇报\r\n二、讨论\t(30 分钟)"), "一、汇报\n二、讨论\t(30 分钟)");
        assert_eq!(xlsx_cell("_x0041\u{0}\u{ffff}\u{1b}[31m"), "_x0041[31m");
    }

    #[test]
    fn names_have_no_control_characters() {
        assert!(is_plain("城关镇会议室 (2)"));
        for bad in ["a\rb", "a\nb", "a\u{0}b", "a\u{1b}[31mb", "a\u{7f}b", "a\tb"] {
            assert!(!is_plain(bad), "{bad:?}");
        }
        assert!(is_multiline("一、汇报\r\n二、讨论\t(30 分钟)"));
        assert!(!is_multiline("a\u{0}b"));
    }
}
