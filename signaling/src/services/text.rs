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

#[cfg(test)]
mod tests {
    use super::*;

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
