//! Accounts as a service: creating one (hashed password, audit record).

use crate::{auth, store, token};

/// Creates an account with a hashed password and audits it.
pub fn create_account(
    store: &dyn store::Store,
    username: &str,
    display_name: &str,
    role: store::AccountRole,
    password: &str,
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
    };
    store.create_account(&account, now)?;
    store.audit(
        store::NewAudit {
            action: "account.create",
            target: Some(username),
            detail: role.as_str(),
            outcome: "ok",
            ..Default::default()
        },
        now,
    )?;
    Ok(())
}
