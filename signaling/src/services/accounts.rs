//! Accounts as a service: creating one (hashed password, audit record in
//! the same transaction), and the three administrators of a new server.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::{auth, store, token};

/// Checks a new account's names: a username of 1 to 64 characters without
/// spaces or control characters, a display name of 1 to 64 characters
/// without control characters. Returns the trimmed username.
pub fn check_names(username: &str, display_name: &str) -> Result<String, String> {
    let username = username.trim();
    if username.is_empty() || username.chars().count() > 64 || username.chars().any(char::is_whitespace) {
        return Err("a username is 1 to 64 characters without spaces".into());
    }
    if !super::text::is_plain(display_name) || !super::text::is_plain(username) {
        return Err("names may not contain control characters".into());
    }
    if display_name.trim().is_empty() || display_name.chars().count() > 64 {
        return Err("a display name is 1 to 64 characters".into());
    }
    Ok(username.to_string())
}

/// Creates an account with a hashed password and audits it. `one_time`:
/// the password was made for the account (printed, handed over) and must be
/// changed at the first login.
pub fn create_account(
    store: &dyn store::Store,
    username: &str,
    display_name: &str,
    role: store::AccountRole,
    password: &str,
    one_time: bool,
) -> anyhow::Result<()> {
    let now = crate::clock::unix_secs();
    let account = store::Account {
        id: token::random_id(12),
        username: username.to_string(),
        display_name: display_name.to_string(),
        role,
        org_unit: None,
        password_hash: auth::hash_password(password),
        failed_logins: 0,
        locked_until: None,
        must_change_password: one_time,
        password_changed_at: None,
    };
    store.audited(now, &mut |s| {
        s.create_account(&account, now)?;
        let audit = store::NewAudit {
            action: "account.create",
            target: Some(username),
            detail: role.as_str(),
            outcome: "ok",
            ..Default::default()
        };
        Ok(audit.owned())
    })?;
    Ok(())
}

/// The three administrators every server has (ADR 0009).
pub const ADMINISTRATORS: [(&str, &str, store::AccountRole); 3] = [
    ("admin", "系统管理员", store::AccountRole::Admin),
    ("security", "安全管理员", store::AccountRole::Security),
    ("auditor", "审计管理员", store::AccountRole::Auditor),
];

/// Makes sure the server has its three administrators: on the very first
/// start, and on the first start after an upgrade from a version without
/// them, each one missing is created with a one-time password. The
/// passwords go to `initial-passwords.txt` in `data_dir`, readable by the
/// server's user alone and written before the accounts exist — never to the
/// log. Returns the file, if it wrote one.
pub fn ensure_administrators(store: &dyn store::Store, data_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    let existing = store.accounts()?;
    let missing: Vec<_> =
        ADMINISTRATORS.iter().filter(|(_, _, role)| !existing.iter().any(|a| a.role == *role)).collect();
    if missing.is_empty() {
        return Ok(None);
    }
    let mut made = Vec::new();
    for (username, name, role) in missing {
        // A name already taken by an account of another role gets a suffix.
        let free = (1..100)
            .map(|i| if i == 1 { username.to_string() } else { format!("{username}{i}") })
            .find(|u| !existing.iter().any(|a| &a.username == u))
            .unwrap_or_else(|| format!("{username}-{}", token::random_id(4)));
        made.push((free, *name, *role, auth::one_time_password()));
    }
    let mut text = String::from(
        "# Huiyi: one-time passwords of the administrators (等保 2.0: system, security\n\
         # and audit administrator). Each must set its own password at the first\n\
         # login. Hand each to its holder, then delete this file.\n",
    );
    for (username, name, _, password) in &made {
        text.push_str(&format!("{username}\t{password}\t({name})\n"));
    }
    let path = data_dir.join("initial-passwords.txt");
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let mut file =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
    }
    for (username, name, role, password) in &made {
        create_account(store, username, name, *role, password, true)?;
    }
    Ok(Some(path))
}
