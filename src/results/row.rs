//! A result row's status, as the CSV writes it and merge and diff read it back: one
//! type, so the words `up`, `unreachable` and `down` are spelled in one place.

use crate::engine::table;
use std::fmt;
use std::str::FromStr;

/// A row's status. The order is the merge rank: up beats unreachable beats down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Down,
    Unreachable,
    Up,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Down, Status::Unreachable, Status::Up];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Up => "up",
            Status::Unreachable => "unreachable",
            Status::Down => "down",
        }
    }

    /// The row status of a table cell; `neighbour` when the target answered ARP /
    /// neighbour discovery (up, as nmap reports it, even if silent to echo). `None` for a
    /// target answered in the run this one resumes: its row is in that run's output.
    pub fn of_cell(status: table::Status, neighbour: bool) -> Option<Status> {
        match status {
            table::Status::Up => Some(Status::Up),
            table::Status::Unreachable => Some(Status::Unreachable),
            table::Status::Down if neighbour => Some(Status::Up),
            table::Status::Down => Some(Status::Down),
            table::Status::Prior => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    /// Names the bad token, for a reader's line-numbered error.
    type Err = String;

    fn from_str(token: &str) -> Result<Status, String> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == token)
            .ok_or_else(|| format!("invalid status '{token}' (want up, unreachable or down)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>(), Ok(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        for bad in ["", "Up", "UP", "upp", " up", "prior"] {
            let e = bad.parse::<Status>().unwrap_err();
            assert!(e.contains(&format!("'{bad}'")), "{e}");
        }
    }

    #[test]
    fn rank_for_merging() {
        assert!(Status::Up > Status::Unreachable && Status::Unreachable > Status::Down);
        assert_eq!(Status::ALL.iter().max(), Some(&Status::Up));
    }

    #[test]
    fn cells_map_to_rows() {
        use table::Status as T;
        assert_eq!(Status::of_cell(T::Up, false), Some(Status::Up));
        assert_eq!(
            Status::of_cell(T::Unreachable, true),
            Some(Status::Unreachable)
        );
        assert_eq!(Status::of_cell(T::Down, false), Some(Status::Down));
        assert_eq!(Status::of_cell(T::Down, true), Some(Status::Up));
        assert_eq!(Status::of_cell(T::Prior, false), None);
        assert_eq!(Status::of_cell(T::Prior, true), None);
    }
}
