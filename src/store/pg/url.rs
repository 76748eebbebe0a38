//! A `postgresql://` URL as libpq reads it, for rust-postgres: the parts it parses itself
//! handed to `postgres::Config`; what it leaves to libpq done here (`sslmode`'s verifying
//! modes and `sslrootcert`, `PGPASSWORD`, the password file, the default user); and the
//! URL as it may be shown or stored, its password replaced.

use postgres::config::{Host, SslMode};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::redact::url as redact;
use crate::redact::SCHEMES;

/// How long connecting may take before it is a fault: a scan waits on it before any probe.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `--db` names a server (else it is a file).
pub fn is_url(db: &str) -> bool {
    SCHEMES.iter().any(|s| db.starts_with(s))
}

/// What a TLS session must prove (libpq's `sslmode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// No TLS (`disable`).
    Off,
    /// Encrypted; the certificate not checked (`allow`, `prefer`, `require`).
    Nothing,
    /// The chain up to the root certificate (`verify-ca`).
    Chain,
    /// The chain and the host name (`verify-full`).
    Full,
}

/// A parsed URL: the client's configuration and the TLS it asks for.
pub struct Dsn {
    pub config: postgres::Config,
    pub verify: Verify,
    /// `sslrootcert`, else `~/.postgresql/root.crt` where it exists.
    pub root_cert: Option<PathBuf>,
    /// The URL as shown (password replaced).
    pub shown: String,
}

fn decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("a bad %-escape in '{s}'"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("'{s}' is not UTF-8"))
}

/// Parses `url`; the reason it does not parse never includes its password.
pub fn parse(url: &str) -> Result<Dsn, String> {
    let shown = redact(url);
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let mut verify = Verify::Nothing;
    let mut mode = SslMode::Prefer;
    let mut root_cert = None;
    let mut passfile = None;
    let mut kept = Vec::new();
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("the parameter '{}' has no value", kv))?;
        let value = decode(v)?;
        match k {
            "sslmode" => {
                (mode, verify) = match value.as_str() {
                    "disable" => (SslMode::Disable, Verify::Off),
                    "allow" | "prefer" => (SslMode::Prefer, Verify::Nothing),
                    "require" => (SslMode::Require, Verify::Nothing),
                    "verify-ca" => (SslMode::Require, Verify::Chain),
                    "verify-full" => (SslMode::Require, Verify::Full),
                    other => return Err(format!("sslmode '{other}' is not one libpq knows")),
                }
            }
            "sslrootcert" => root_cert = Some(PathBuf::from(value)),
            "passfile" => passfile = Some(PathBuf::from(value)),
            _ => kept.push(kv),
        }
    }
    let rebuilt = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    let mut config: postgres::Config = rebuilt.parse().map_err(|e: postgres::Error| {
        // rust-postgres names the option, never echoes the value.
        e.to_string()
    })?;
    config.ssl_mode(mode);
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_hosts().is_empty() {
        return Err("it names no host (give 127.0.0.1, or host=/path/to/socket/dir)".into());
    }
    if config.get_user().is_none() {
        let user = std::env::var("PGUSER").ok().or_else(os_user);
        config.user(
            user.as_deref()
                .ok_or("it names no user, and PGUSER is not set")?,
        );
    }
    if config.get_password().is_none() {
        if let Some(p) = password(&config, passfile) {
            config.password(p);
        }
    }
    let root_cert = root_cert.or_else(|| {
        let p = home()?.join(".postgresql/root.crt");
        p.exists().then_some(p)
    });
    Ok(Dsn {
        config,
        verify,
        root_cert,
        shown,
    })
}

/// The name of this process's user, libpq's default.
fn os_user() -> Option<String> {
    // SAFETY: getpwuid returns a pointer into static storage or null; read at once.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if pw.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_str()
            .ok()
            .map(str::to_string)
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// `PGPASSWORD`, else the password file's first matching line (libpq's order).
fn password(config: &postgres::Config, passfile: Option<PathBuf>) -> Option<String> {
    if let Some(p) = std::env::var("PGPASSWORD").ok().filter(|p| !p.is_empty()) {
        return Some(p);
    }
    let file = passfile
        .or_else(|| std::env::var_os("PGPASSFILE").map(PathBuf::from))
        .or_else(|| Some(home()?.join(".pgpass")))?;
    let text = read_passfile(&file)?;
    // A socket directory matches `localhost`, as in libpq.
    let host = match config.get_hosts().first()? {
        Host::Tcp(h) => h.clone(),
        Host::Unix(_) => "localhost".into(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user()?;
    let db = config.get_dbname().unwrap_or(user);
    lookup(&text, [&host, &port, db, user])
}

/// The password file, when it may be used: libpq ignores one that its group or others
/// can read, and so does sweep, saying why.
fn read_passfile(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        crate::error::warn(format_args!(
            "sweep: the password file '{}' can be read by its group or others; ignored \
             (chmod 600 it)",
            path.display()
        ));
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// The password of the first line of a `.pgpass` text whose four fields match `want`
/// (`*` matches anything; `\:` and `\\` are a literal colon and backslash).
fn lookup(text: &str, want: [&str; 4]) -> Option<String> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields = split_fields(line);
            if fields.len() < 5 {
                return None;
            }
            let matches = fields[..4]
                .iter()
                .zip(want)
                .all(|(f, w)| f == "*" || f == w);
            matches.then(|| fields[4..].join(":"))
        })
}

fn split_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(n), Some(f)) = (chars.next(), fields.last_mut()) {
                    f.push(n);
                }
            }
            ':' => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("postgresql://sweep:s3cr%40t@127.0.0.1:5433/inv?sslmode=require"),
            "postgresql://sweep:***@127.0.0.1:5433/inv?sslmode=require"
        );
        assert_eq!(
            redact("postgres://u@/inv?host=/run/pg&password=hunter2"),
            "postgres://u@/inv?host=/run/pg&password=***"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("inv.db"), "inv.db");
        assert_eq!(
            crate::redact::arg("--db=postgresql://a:b@h/d"),
            "--db=postgresql://a:***@h/d"
        );
        let e = parse("postgresql://a:pw@h/d?sslmode=bogus").err().unwrap();
        assert!(!e.contains("pw"), "{e}");
    }

    #[test]
    fn urls_parse_as_libpq_reads_them() {
        let d =
            parse("postgresql://sweep:pw@/inv?host=%2Ftmp%2Fs&port=5544&sslmode=disable").unwrap();
        assert_eq!(d.config.get_hosts(), [Host::Unix("/tmp/s".into())]);
        assert_eq!(d.config.get_ports(), [5544]);
        assert_eq!(d.config.get_password(), Some(&b"pw"[..]));
        assert_eq!(d.verify, Verify::Off);
        let d =
            parse("postgres://u@127.0.0.1/inv?sslmode=verify-full&sslrootcert=%2Fca.pem").unwrap();
        assert_eq!(d.verify, Verify::Full);
        assert_eq!(d.root_cert, Some(PathBuf::from("/ca.pem")));
        assert!(parse("postgresql://u@h/d?sslmode").is_err());
        assert!(parse("postgresql://u@h:notaport/d").is_err());
    }

    #[test]
    fn the_password_file_is_read_as_libpq_reads_it() {
        let text = "# comment\nother:5432:*:u:no\nlocalhost:5432:inv:u:a\\:b\\\\c\n*:*:*:*:any";
        assert_eq!(
            lookup(text, ["localhost", "5432", "inv", "u"]).as_deref(),
            Some("a:b\\c")
        );
        assert_eq!(
            lookup(text, ["10.0.0.1", "1", "x", "y"]).as_deref(),
            Some("any")
        );
        assert_eq!(lookup("h:1:d:u", ["h", "1", "d", "u"]), None);
    }
}
