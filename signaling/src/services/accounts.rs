//! Accounts as a service: creating one (hashed password, audit record in
//! the same transaction), and the three administrators of a new server.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::{auth, store, token};

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

/// The three administrators a new server starts with (ADR 0009).
pub const ADMINISTRATORS: [(&str, &str, store::AccountRole); 3] = [
    ("admin", "系统管理员", store::AccountRole::Admin),
    ("security", "安全管理员", store::AccountRole::Security),
    ("auditor", "审计管理员", store::AccountRole::Auditor),
];

/// On the very first start (no accounts), creates the system, security
/// and audit administrators with one-time passwords and writes those to
/// `initial-passwords.txt` in `data_dir`, readable by the server's user
/// alone — never to the log. Returns the file, if it made one.
pub fn ensure_administrators(store: &dyn store::Store, data_dir: &Path) -> anyhow::Result<Option<PathBuf>> {
    if store.account_count()? > 0 {
        return Ok(None);
    }
    let path = data_dir.join("initial-passwords.txt");
    let mut text = String::from(
        "# Huiyi: one-time passwords of the three administrators (等保 2.0: system,\n\
         # security and audit administrator). Each must set its own password at the\n\
         # first login. Hand each to its holder, then delete this file.\n",
    );
    for (username, name, role) in ADMINISTRATORS {
        let password = auth::one_time_password();
        create_account(store, username, name, role, &password, true)?;
        text.push_str(&format!("{username}\t{password}\t({name})\n"));
    }
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&path)?
    };
    file.write_all(text.as_bytes())?;
    Ok(Some(path))
}
