//! What is made from the one clap command besides parsing: completion scripts and
//! manual pages (`sweep completions`, `sweep man`).

use crate::cli::{self, Page};
use crate::error::{Error, Result};
use std::io::Write;

/// `sweep completions SHELL`: the script, on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cli::command(), "sweep", &mut script);
    print(&script)
}

/// `sweep man [PAGE]`: the page, on stdout.
pub fn man(page: Option<Page>) -> Result<()> {
    let mut text = Vec::new();
    man_page(page, &mut text).map_err(Error::Write)?;
    print(&text)
}

/// The scan's page (every option, the subcommands, the help's closing notes), or a
/// subcommand's, named `sweep-merge` / `sweep-diff` as clap names a built subcommand.
pub fn man_page(page: Option<Page>, out: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = cli::command();
    let (name, title) = match page {
        None => return clap_mangen::Man::new(cmd).render(out),
        Some(Page::Merge) => ("merge", "sweep-merge"),
        Some(Page::Diff) => ("diff", "sweep-diff"),
        Some(Page::Report) => ("report", "sweep-report"),
        Some(Page::Inventory) => ("inventory", "sweep-inventory"),
    };
    cmd.build();
    let sub = cmd
        .find_subcommand(name)
        .expect("the subcommand is defined")
        .clone()
        // The page's title and version line; the synopsis keeps `sweep merge`.
        .name(title);
    clap_mangen::Man::new(sub).render(out)
}

/// Generated text to stdout (a closed pipe, `sweep man | head`, is `fail`'s to forgive).
fn print(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(Error::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(p: Option<Page>) -> String {
        let mut text = Vec::new();
        man_page(p, &mut text).unwrap();
        String::from_utf8(text).unwrap()
    }

    #[test]
    fn man_page_names_every_long_option() {
        let page = page(None);
        let cmd = cli::command();
        let longs: Vec<_> = cmd
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long())
            .collect();
        assert!(longs.len() > 20 && longs.contains(&"summary-json"));
        for long in longs {
            // roff escapes '-' as '\-'.
            let roffed = format!("\\-\\-{}", long.replace('-', "\\-"));
            assert!(page.contains(&roffed), "--{long} missing from the man page");
        }
        for sub in ["merge", "diff", "report", "completions", "man"] {
            assert!(page.contains(&format!("sweep\\-{sub}(1)")), "{sub}");
        }
        assert!(!page.contains("sweep\\-help"), "no help subcommand");
    }

    #[test]
    fn subcommand_pages_are_named_and_titled_as_installed() {
        for (p, name) in [
            (Page::Merge, "merge"),
            (Page::Diff, "diff"),
            (Page::Report, "report"),
        ] {
            let text = page(Some(p));
            assert!(
                text.contains(&format!(".TH sweep-{name} 1  \"sweep-{name} ")),
                "{text}"
            );
            assert!(
                text.contains(&format!("sweep {name}")),
                "synopsis of {name}"
            );
            let own = if name == "report" {
                "output"
            } else {
                "csv\\-raw"
            };
            assert!(
                text.contains(&format!("\\-\\-{own}")),
                "{name}'s own options"
            );
        }
    }

    #[test]
    fn completions_cover_the_subcommands() {
        let mut script = Vec::new();
        let mut cmd = cli::command();
        clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "sweep", &mut script);
        let script = String::from_utf8(script).unwrap();
        for word in [
            "merge",
            "diff",
            "completions",
            "--rtt-change",
            "--summary-json",
        ] {
            assert!(script.contains(word), "{word}");
        }
    }
}
