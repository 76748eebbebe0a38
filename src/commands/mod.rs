//! Commands over saved results and the store (today: `inventory`; `merge`, `diff` and
//! `report` still live in `results/`).

pub mod inventory;
