//! What may never be shown or stored: a database URL's password (`--db postgresql://…`),
//! replaced by `***` in errors, logs, the runs table and every output that repeats the
//! command line (nmap XML's `args`, grepable output, the HTML page).

/// The two spellings libpq accepts for a database URL.
pub const SCHEMES: [&str; 2] = ["postgresql://", "postgres://"];

/// `url` with its password (in the user part or a `password=` parameter) replaced by
/// `***`; text that is not such a URL is returned as it is.
pub fn url(url: &str) -> String {
    let Some(scheme) = SCHEMES.iter().find(|s| url.starts_with(*s)) else {
        return url.to_string();
    };
    let rest = &url[scheme.len()..];
    let (base, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let base = match base.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => base.to_string(),
        },
        None => base.to_string(),
    };
    let query = query.map(|q| {
        q.split('&')
            .map(|kv| match kv.split_once('=') {
                Some(("password", _)) => "password=***".to_string(),
                _ => kv.to_string(),
            })
            .collect::<Vec<_>>()
            .join("&")
    });
    match query {
        Some(q) => format!("{scheme}{base}?{q}"),
        None => format!("{scheme}{base}"),
    }
}

/// One command-line argument with any URL in it redacted (`--db=postgresql://…` too).
pub fn arg(arg: &str) -> String {
    match SCHEMES.iter().filter_map(|s| arg.find(s)).min() {
        Some(at) => format!("{}{}", &arg[..at], url(&arg[at..])),
        None => arg.to_string(),
    }
}

/// This process's command line as it may be shown: each argument through `arg`.
pub fn command_line() -> String {
    std::env::args_os()
        .map(|a| arg(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}
