//! Password policy (等保 2.0 level 3): strength, expiry, no reuse of recent
//! passwords, and a password set by someone else (a one-time password, a
//! reset) changed at the first login. Pure functions; the hashing they need
//! runs on [`super::login::Hashing`]'s threads.

use huiyi_config::SecurityConfig;

use crate::store::Account;

/// Why an account must change its password before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeDue {
    /// It was set by someone else (a one-time password or a reset).
    FirstLogin,
    /// It is older than `security.password_max_age_days`.
    Expired,
}

impl ChangeDue {
    /// What the refusal says.
    pub fn message(self) -> &'static str {
        match self {
            ChangeDue::FirstLogin => "set your own password first (the one you were given works only once)",
            ChangeDue::Expired => "your password has expired: set a new one first",
        }
    }

    /// Its name in `/api/v1/me` (`password_change`).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeDue::FirstLogin => "first_login",
            ChangeDue::Expired => "expired",
        }
    }
}

/// Whether `account` must change its password at `now`.
pub fn change_due(account: &Account, policy: &SecurityConfig, now: i64) -> Option<ChangeDue> {
    if account.must_change_password {
        return Some(ChangeDue::FirstLogin);
    }
    let max_age = i64::from(policy.password_max_age_days) * 86_400;
    let changed = account.password_changed_at?;
    (max_age > 0 && now.saturating_sub(changed) >= max_age).then_some(ChangeDue::Expired)
}

/// Checks a new password's strength: at least `min_length` characters,
/// three of the four kinds (lower case, upper case, digits, others — CJK
/// counts as other), not containing the username, not one repeated
/// character. The error says what is missing.
pub fn check_strength(password: &str, username: &str, min_length: u32) -> Result<(), String> {
    let length = password.chars().count();
    if length < min_length as usize {
        return Err(format!("a password has at least {min_length} characters"));
    }
    if length > 256 {
        return Err("a password has at most 256 characters".into());
    }
    if password.chars().any(char::is_control) {
        return Err("a password may not contain control characters".into());
    }
    let kinds = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_lowercase() && !c.is_uppercase() && !c.is_ascii_digit()),
    ];
    if kinds.iter().filter(|k| **k).count() < 3 {
        return Err(
            "a password mixes three of: lower-case letters, upper-case letters, digits, other characters"
                .into(),
        );
    }
    let name = username.trim().to_lowercase();
    if name.chars().count() >= 3 && password.to_lowercase().contains(&name) {
        return Err("a password may not contain the username".into());
    }
    let mut chars = password.chars();
    let first = chars.next();
    if chars.all(|c| Some(c) == first) {
        return Err("a password is not one character repeated".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strength_needs_length_and_three_kinds() {
        assert!(check_strength("Short1!", "zhang", 10).is_err());
        assert!(check_strength("alllowercaseletters", "zhang", 10).is_err());
        assert!(check_strength("lowercase1234", "zhang", 10).is_err(), "two kinds only");
        assert!(check_strength("Lowercase1234", "zhang", 10).is_ok());
        assert!(check_strength("防汛会议2026abc", "zhang", 10).is_ok(), "Chinese counts as other");
        assert!(check_strength("Zhang-2026-pw", "zhang", 10).is_err(), "contains the username");
        assert!(check_strength("Pass\u{7}word-12", "zhang", 10).is_err(), "control character");
    }

    fn account(must_change: bool, changed: Option<i64>) -> Account {
        Account {
            id: "a".into(),
            username: "a".into(),
            display_name: "a".into(),
            role: crate::store::AccountRole::Secretary,
            org_unit: None,
            password_hash: String::new(),
            failed_logins: 0,
            locked_until: None,
            must_change_password: must_change,
            password_changed_at: changed,
        }
    }

    #[test]
    fn a_change_is_due_after_a_one_time_password_or_when_old() {
        let policy = SecurityConfig::default();
        let day = 86_400;
        assert_eq!(change_due(&account(true, Some(0)), &policy, 1), Some(ChangeDue::FirstLogin));
        assert_eq!(change_due(&account(false, Some(0)), &policy, 89 * day), None);
        assert_eq!(change_due(&account(false, Some(0)), &policy, 90 * day), Some(ChangeDue::Expired));
        let never = SecurityConfig { password_max_age_days: 0, ..policy };
        assert_eq!(change_due(&account(false, Some(0)), &never, 9000 * day), None);
    }
}
