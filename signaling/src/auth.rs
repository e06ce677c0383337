//! Passwords and login discipline (等保 2.0): argon2id hashes, and an account
//! locked for a while after repeated failures. Pure functions of `now`.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::store::Account;

/// Failures in a row that lock an account.
pub const MAX_FAILURES: i64 = 5;
/// How long a locked account stays locked (seconds).
pub const LOCK_SECS: i64 = 15 * 60;

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> String {
    let salt =
        SaltString::encode_b64(&crate::token::random_bytes::<16>()).expect("16 bytes make a valid salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes")
        .to_string()
}

/// Checks a password against a PHC string; a malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// What may happen before a password is even checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Locked: refused without hashing.
    Locked {
        /// Until (Unix seconds).
        until: i64,
    },
    /// Check it. The attempt is counted as a failure in advance (the right
    /// password resets the count), so parallel guesses cannot outrun the
    /// lock: the `MAX_FAILURES`-th reserved failure locks the account.
    Check {
        /// Consecutive failures counting this one.
        failures: i64,
        /// Set when this failure locks the account.
        locked_until: Option<i64>,
    },
}

/// The gate for an attempt on `account` at `now`.
pub fn gate(account: &Account, now: i64) -> Gate {
    if let Some(until) = account.locked_until.filter(|u| *u > now) {
        return Gate::Locked { until };
    }
    // A lock that has expired starts a new count.
    let previous = if account.locked_until.is_some() { 0 } else { account.failed_logins };
    let failures = previous + 1;
    Gate::Check { failures, locked_until: (failures >= MAX_FAILURES).then_some(now + LOCK_SECS) }
}

/// A random one-time password for a new account (shown once).
pub fn one_time_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
    let bytes = crate::token::random_bytes::<16>();
    bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AccountRole;

    /// The outcome of a login attempt, and the account's new counters.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Login {
        /// Right password, not locked.
        Ok,
        /// Wrong password; `locked_until` is set when this failure locks it.
        Failed {
            /// Consecutive failures now.
            failures: i64,
            /// Locked until (Unix seconds).
            locked_until: Option<i64>,
        },
        /// Locked: the password is not even checked.
        Locked {
            /// Until (Unix seconds).
            until: i64,
        },
    }

    /// A login attempt at `now` as the server decides it: the gate, then the password.
    fn attempt(account: &Account, password: &str, now: i64) -> Login {
        match gate(account, now) {
            Gate::Locked { until } => Login::Locked { until },
            Gate::Check { .. } if verify_password(password, &account.password_hash) => Login::Ok,
            Gate::Check { failures, locked_until } => Login::Failed { failures, locked_until },
        }
    }

    fn account(hash: &str) -> Account {
        Account {
            id: "a".into(),
            username: "u".into(),
            display_name: "U".into(),
            role: AccountRole::Secretary,
            org_unit: None,
            password_hash: hash.into(),
            failed_logins: 0,
            locked_until: None,
            must_change_password: false,
            password_changed_at: None,
        }
    }

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let h1 = hash_password("正确的密码");
        let h2 = hash_password("正确的密码");
        assert!(h1.starts_with("$argon2id$"));
        assert_ne!(h1, h2);
        assert!(verify_password("正确的密码", &h1));
        assert!(!verify_password("错误", &h1));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn five_failures_lock_for_a_while() {
        let mut a = account(&hash_password("pw"));
        let now = 1_000_000;
        for i in 1..MAX_FAILURES {
            match attempt(&a, "wrong", now) {
                Login::Failed { failures, locked_until: None } => a.failed_logins = failures,
                other => panic!("attempt {i}: {other:?}"),
            }
        }
        let Login::Failed { locked_until: Some(until), .. } = attempt(&a, "wrong", now) else {
            panic!("locks")
        };
        a.locked_until = Some(until);
        assert_eq!(attempt(&a, "pw", now + 60), Login::Locked { until }, "even the right password waits");
        assert_eq!(attempt(&a, "pw", until), Login::Ok, "the lock expires");
        assert_eq!(
            attempt(&a, "wrong", until),
            Login::Failed { failures: 1, locked_until: None },
            "a fresh count"
        );
    }

    #[test]
    fn one_time_passwords_are_long_and_random() {
        let a = one_time_password();
        assert_eq!(a.chars().count(), 16);
        assert_ne!(a, one_time_password());
    }
}
