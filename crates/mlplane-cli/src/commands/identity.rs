//! `mlplane login`, `mlplane token`, `mlplane user` and `mlplane role-binding`: sign in
//! (storing an API token), manage one's API tokens, users (administrators) and the role
//! bindings of a workspace.
//!
//! Invariants:
//! - a token's secret is printed once, by `token create` (or stored by `login`), never by
//!   `token list`;
//! - the credentials file (`~/.config/mlplane/credentials`, one token per server URL) is
//!   written with mode 0600 and read only when neither `--token` nor `MLPLANE_TOKEN` is set.

use crate::client::{Client, typed};
use crate::output::{self, Output, Table};
use anyhow::Context;
use mlplane_api::{CreatedTokenView, RoleBindingList, TokenList, UserList, UserView};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum TokenCmd {
    /// Make an API token for yourself; its secret is printed once.
    Create {
        /// A name to recognize the token by.
        name: String,
        /// Limit the token to actions (`runs/*`, `models/read`, …; repeatable) [default: *].
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Limit the token to one workspace.
        #[arg(long = "only-workspace")]
        only_workspace: Option<String>,
        /// Lifetime in days [default: 90].
        #[arg(long)]
        expires_in_days: Option<u32>,
    },
    /// List your tokens (without secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

#[derive(Debug, clap::Subcommand)]
pub enum UserCmd {
    /// Create a user (administrators only); the password is read from MLPLANE_NEW_PASSWORD
    /// or the first line of standard input.
    Create {
        name: String,
        /// Make the user a server administrator.
        #[arg(long)]
        admin: bool,
        /// Create the user without a password (tokens only).
        #[arg(long)]
        no_password: bool,
    },
    /// List users.
    List,
    /// Delete a user, revoking its tokens.
    Delete { name: String },
}

#[derive(Debug, clap::Subcommand)]
pub enum RoleBindingCmd {
    /// List who holds which role in the workspace.
    List,
    /// Grant a role (`Owner`, `Contributor`, `Reader`, `Data Scientist`, `Compute Operator`
    /// or a custom role) in the workspace.
    Set {
        principal: String,
        role: String,
        /// The principal is a service principal, not a user.
        #[arg(long)]
        service_principal: bool,
    },
    /// Take a role away.
    Delete {
        principal: String,
        role: String,
        #[arg(long)]
        service_principal: bool,
    },
}

/// Where `mlplane login` keeps tokens: `$XDG_CONFIG_HOME/mlplane/credentials`, else
/// `~/.config/mlplane/credentials`.
pub fn credentials_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("mlplane").join("credentials"))
}

fn read_credentials() -> BTreeMap<String, String> {
    credentials_path()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// The stored token for `url`, if `mlplane login` stored one.
pub fn stored_token(url: &str) -> Option<String> {
    read_credentials().remove(url.trim_end_matches('/'))
}

fn store_token(url: &str, token: &str) -> anyhow::Result<PathBuf> {
    let path = credentials_path().context("cannot find a home folder for the credentials file")?;
    let dir = path.parent().context("credentials path has no folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut all = read_credentials();
    all.insert(url.trim_end_matches('/').to_owned(), token.to_owned());
    let text = serde_json::to_string_pretty(&all)?;
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        #[cfg(unix)]
        use std::os::unix::fs::OpenOptionsExt;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        opts.mode(0o600);
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// A secret from an env var, else the first line of standard input.
fn secret_from(var: &str, what: &str) -> anyhow::Result<String> {
    if let Ok(v) = std::env::var(var)
        && !v.is_empty()
    {
        return Ok(v);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .with_context(|| format!("cannot read the {what} from standard input"))?;
    let v = line.trim_end_matches(['\r', '\n']).to_owned();
    anyhow::ensure!(
        !v.is_empty(),
        "no {what}: set {var} or give it on standard input"
    );
    Ok(v)
}

/// `mlplane login --user NAME`: signs in with the password (MLPLANE_PASSWORD or standard
/// input), makes a token named `mlplane-cli` and stores it for this server URL.
pub async fn login(url: &str, user: &str, ca_cert: Option<&std::path::Path>) -> anyhow::Result<()> {
    let password = secret_from("MLPLANE_PASSWORD", "password")?;
    let c = Client::with_basic(url, user, &password, ca_cert)?;
    let made: CreatedTokenView = typed(
        &c.post(
            c.api_url(["tokens"]),
            &json!({"name": "mlplane-cli", "expires_in_days": 30}),
        )
        .await?,
    )?;
    let path = store_token(url, &made.token)?;
    eprintln!(
        "signed in to {url} as {user}; token {} stored in {}",
        made.view.id,
        path.display()
    );
    Ok(())
}

pub async fn token(c: &Client, out: Output, cmd: TokenCmd) -> anyhow::Result<()> {
    match cmd {
        TokenCmd::Create {
            name,
            scopes,
            only_workspace,
            expires_in_days,
        } => {
            let body = json!({
                "name": name,
                "scopes": if scopes.is_empty() { Value::Null } else { json!(scopes) },
                "workspace": only_workspace,
                "expires_in_days": expires_in_days,
            });
            let v = c.post(c.api_url(["tokens"]), &body).await?;
            let made: CreatedTokenView = typed(&v)?;
            match out {
                Output::Json => output::json(&v),
                Output::Table => {
                    eprintln!("token {} (shown once, store it now):", made.view.id);
                    output::line(&made.token)
                }
            }
        }
        TokenCmd::List => {
            let v = c.get(c.api_url(["tokens"])).await?;
            let list: TokenList = typed(&v)?;
            match out {
                Output::Json => output::json(&v),
                Output::Table => {
                    let mut t = Table::new(&[
                        "ID",
                        "NAME",
                        "SCOPES",
                        "WORKSPACE",
                        "EXPIRES",
                        "LAST USED",
                        "REVOKED",
                    ]);
                    for tk in list.items {
                        t.row(vec![
                            tk.id,
                            tk.name,
                            tk.scopes.join(","),
                            tk.workspace.unwrap_or_else(|| "*".into()),
                            output::opt_time_ms(tk.expires_at),
                            output::opt_time_ms(tk.last_used_at),
                            output::opt_time_ms(tk.revoked_at),
                        ]);
                    }
                    t.print()
                }
            }
        }
        TokenCmd::Revoke { id } => {
            c.delete(c.api_url(["tokens", id.as_str()])).await?;
            eprintln!("revoked token {id}");
            Ok(())
        }
    }
}

pub async fn user(c: &Client, out: Output, cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Create {
            name,
            admin,
            no_password,
        } => {
            let password = if no_password {
                None
            } else {
                Some(secret_from("MLPLANE_NEW_PASSWORD", "new user's password")?)
            };
            let v = c
                .post(
                    c.api_url(["users"]),
                    &json!({"name": name, "password": password, "admin": admin}),
                )
                .await?;
            let u: UserView = typed(&v)?;
            match out {
                Output::Json => output::json(&v),
                Output::Table => output::line(&output::fields(&[
                    ("id", u.id),
                    ("name", u.name),
                    ("admin", u.admin.to_string()),
                ])),
            }
        }
        UserCmd::List => {
            let v = c.get(c.api_url(["users"])).await?;
            let list: UserList = typed(&v)?;
            match out {
                Output::Json => output::json(&v),
                Output::Table => {
                    let mut t = Table::new(&["NAME", "ID", "ADMIN", "PASSWORD", "CREATED"]);
                    for u in list.items {
                        t.row(vec![
                            u.name,
                            u.id,
                            u.admin.to_string(),
                            u.has_password.to_string(),
                            output::time_ms(u.created_at),
                        ]);
                    }
                    t.print()
                }
            }
        }
        UserCmd::Delete { name } => {
            c.delete(c.api_url(["users", name.as_str()])).await?;
            eprintln!("deleted user {name}");
            Ok(())
        }
    }
}

pub async fn role_binding(c: &Client, out: Output, cmd: RoleBindingCmd) -> anyhow::Result<()> {
    let kind = |sp: bool| if sp { "service_principal" } else { "user" };
    match cmd {
        RoleBindingCmd::List => {
            let v = c.get(c.url(["role-bindings"])).await?;
            let list: RoleBindingList = typed(&v)?;
            match out {
                Output::Json => output::json(&v),
                Output::Table => {
                    let mut t = Table::new(&["PRINCIPAL", "TYPE", "ROLE"]);
                    for b in list.items {
                        t.row(vec![b.principal, b.principal_type, b.role]);
                    }
                    t.print()
                }
            }
        }
        RoleBindingCmd::Set {
            principal,
            role,
            service_principal,
        } => {
            c.post(
                c.url(["role-bindings"]),
                &json!({"principal": principal, "role": role, "principal_type": kind(service_principal)}),
            )
            .await?;
            eprintln!("granted {role} to {principal}");
            Ok(())
        }
        RoleBindingCmd::Delete {
            principal,
            role,
            service_principal,
        } => {
            let url = c.url_with(
                ["role-bindings"],
                &[
                    ("principal", Some(principal.clone())),
                    ("role", Some(role.clone())),
                    ("principal_type", Some(kind(service_principal).to_owned())),
                ],
            );
            c.delete(url).await?;
            eprintln!("took {role} from {principal}");
            Ok(())
        }
    }
}
