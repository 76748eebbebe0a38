//! `--format grepable` (`-oG FILE`): the lines `nmap -sn -oG` writes for a ping scan,
//! which scripts grep and cut (`grep Up | cut -d' ' -f2`): a comment with the start and
//! the command, `Host: ADDR (NAME)<TAB>Status: Up` per host, and a closing comment with
//! the counts. Down and unreachable hosts (`Status: Down`) only with `--all`, as nmap
//! lists them only with `-v`. nmap's grepable output carries no MAC for a ping scan, so
//! neither does this.

use crate::results::output::{each_chunk, Layout, Results};
use crate::results::row::Status;
use crate::results::xml::{ctime, Run};
use std::io::{self, Write};

/// Writes the header comment, a line per wanted row (in address order), the trailer.
pub fn write<W: Write + ?Sized>(
    out: &mut W,
    layout: &Layout,
    r: &Results,
    run: &Run,
) -> io::Result<()> {
    writeln!(
        out,
        "# sweep {} scan initiated {} as: {}",
        env!("CARGO_PKG_VERSION"),
        ctime(run.started),
        one_line(run.args)
    )?;
    each_chunk(
        layout,
        r,
        |rows| {
            let mut buf = Vec::with_capacity(rows.len() * 40);
            for row in rows {
                let status = if row.status == Status::Up {
                    "Up"
                } else {
                    "Down"
                };
                writeln!(
                    buf,
                    "Host: {} ({})\tStatus: {status}",
                    row.addr,
                    one_line(&row.hostname)
                )?;
            }
            Ok(buf)
        },
        |t| out.write_all(&t),
    )?;
    let plural = |n: u64, one: &str, many: &str| match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    };
    writeln!(
        out,
        "# sweep done at {} -- {} ({} up) scanned in {:.2} seconds",
        ctime(run.started + run.elapsed),
        plural(run.total, "IP address", "IP addresses"),
        plural(run.up, "host", "hosts"),
        run.elapsed.as_secs_f64()
    )?;
    out.flush()
}

/// A field as one line: a tab or line break in a reverse name or an argument would
/// split a record that scripts read line by line, field by tab.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::receiver::Heard;
    use crate::engine::table::Table;
    use crate::results::output::tests::bare;
    use crate::results::output::{Field, Format};
    use crate::targets::Targets;
    use crate::wire::Detail;
    use std::collections::HashMap;
    use std::time::{Duration, SystemTime};

    fn lines(all: bool) -> String {
        let targets = Targets::from_v4(vec![(0xC612_0001, 0xC612_0004)], vec![]);
        let table = Table::new(4, false);
        (0..4).for_each(|i| table.add_probe(i));
        table.record_reply(0, 1234, 63, 0);
        table.record_reply(3, 999, 64, 0);
        table.record_error(1, Detail::of(3, 1));
        let heard = Heard::default();
        let names = HashMap::from([(0, "gw.lab\tx".to_string())]);
        let r = bare(&targets, &table, &heard, &names);
        let layout = Layout {
            format: Format::Grepable,
            fields: Field::DEFAULT.to_vec(),
            all,
            csv_raw: false,
        };
        let run = Run {
            args: "sweep -oG out.gnmap 198.18.0.1-4",
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_400_000),
            elapsed: Duration::from_millis(1500),
            total: 4,
            up: 2,
        };
        let mut out = Vec::new();
        write(&mut out, &layout, &r, &run).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn nmaps_grepable_lines() {
        let want = format!(
            "# sweep {} scan initiated Fri Dec  4 16:00:00 2026 as: sweep -oG out.gnmap 198.18.0.1-4\n\
             Host: 198.18.0.1 (gw.lab x)\tStatus: Up\n\
             Host: 198.18.0.4 ()\tStatus: Up\n\
             # sweep done at Fri Dec  4 16:00:01 2026 -- 4 IP addresses (2 hosts up) scanned in 1.50 seconds\n",
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(lines(false), want);
        let all = lines(true);
        assert!(all.contains("Host: 198.18.0.2 ()\tStatus: Down\n"), "{all}");
        assert!(all.contains("Host: 198.18.0.3 ()\tStatus: Down\n"), "{all}");
        assert_eq!(all.lines().filter(|l| l.starts_with("Host: ")).count(), 4);
    }
}
