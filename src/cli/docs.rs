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
/// Each has an EXIT STATUS section of its own, made from its help's "Exit status:" line.
pub fn man_page(page: Option<Page>, out: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = cli::command();
    let (name, title) = match page {
        None => return render(cmd, out),
        Some(Page::Merge) => ("merge", "sweep-merge"),
        Some(Page::Diff) => ("diff", "sweep-diff"),
        Some(Page::Report) => ("report", "sweep-report"),
        Some(Page::Completions) => ("completions", "sweep-completions"),
        Some(Page::Man) => ("man", "sweep-man"),
        Some(Page::Inventory) => ("inventory", "sweep-inventory"),
    };
    cmd.build();
    let sub = cmd
        .find_subcommand(name)
        .expect("the subcommand is defined")
        .clone()
        // The page's title and version line; the synopsis keeps `sweep merge`.
        .name(title);
    render(sub, out)
}

/// clap_mangen's sections, the help's closing notes without the exit codes, then those
/// as EXIT STATUS (where man(7) puts them).
fn render(cmd: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let after = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    let (notes, codes) = match after.split_once("Exit status:") {
        Some((notes, codes)) => (notes.trim_end().to_string(), exit_codes(codes)),
        None => (after.clone(), Vec::new()),
    };
    let has_subs = cmd.get_subcommands().any(|s| !s.is_hide_set());
    let cmd = cmd.after_help(notes.clone());
    let man = clap_mangen::Man::new(cmd);
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    if has_subs {
        man.render_subcommands_section(out)?;
    }
    if !notes.is_empty() {
        man.render_extra_section(out)?;
    }
    if !codes.is_empty() {
        writeln!(out, ".SH \"EXIT STATUS\"")?;
        for (code, meaning) in codes {
            writeln!(out, ".TP\n{code}\n{}", roff_text(&meaning))?;
        }
    }
    man.render_version_section(out)
}

/// `0 some host up; 1 none up; …` (our own help text) as (code, meaning) pairs.
fn exit_codes(text: &str) -> Vec<(String, String)> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    text.split(';')
        .filter_map(|item| {
            let (code, meaning) = item.trim().split_once(' ')?;
            code.parse::<u8>()
                .is_ok()
                .then(|| (code.to_string(), meaning.trim().to_string()))
        })
        .collect()
}

/// Text for a roff line: backslashes and dashes escaped, no line starting a request.
fn roff_text(s: &str) -> String {
    let t = s.replace('\\', "\\e").replace('-', "\\-");
    match t.starts_with(['.', '\'']) {
        true => format!("\\&{t}"),
        false => t,
    }
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
            (Page::Completions, "completions"),
            (Page::Man, "man"),
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
            let own = match name {
                "report" => "\\-\\-output",
                "completions" => "SHELL",
                "man" => "PAGE",
                _ => "\\-\\-csv\\-raw",
            };
            assert!(text.contains(own), "{name}'s own options");
            assert!(text.contains(".SH \"EXIT STATUS\""), "{name}: {text}");
            assert!(!text.contains("Exit status:"), "{name}: {text}");
        }
    }

    #[test]
    fn every_page_has_its_exit_status_section_and_the_subcommands_it_lists_exist() {
        let scan = page(None);
        let section = scan
            .split(".SH \"EXIT STATUS\"")
            .nth(1)
            .expect("an EXIT STATUS section");
        for code in ["0", "1", "2", "3", "130"] {
            assert!(
                section.contains(&format!(".TP\n{code}\n")),
                "{code}: {section}"
            );
        }
        assert!(section.contains("interrupted"), "{section}");
        assert!(
            !scan.contains("Exit status:"),
            "the codes run into the notes"
        );
        // Every sweep-NAME(1) the page lists is a page `sweep man NAME` makes.
        let cmd = cli::command();
        for sub in cmd.get_subcommands() {
            let name = sub.get_name();
            assert!(scan.contains(&format!("sweep\\-{name}(1)")), "{name}");
            let p = <Page as clap::ValueEnum>::from_str(name, false)
                .unwrap_or_else(|_| panic!("sweep man {name} makes no page"));
            assert!(page(Some(p)).contains(&format!(".TH sweep-{name} 1")));
        }
        let merge = page(Some(Page::Merge));
        assert!(merge.contains(".TP\n1\nnone up"), "{merge}");
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
