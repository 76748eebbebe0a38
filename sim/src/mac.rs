//! MAC addresses of simulated hosts: vendors' OUIs and a seeded, collision
//! free assignment. Pure; knows nothing about profiles.

use crate::rng::{word, Tag};
use std::fmt;

/// An Ethernet MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    pub const BROADCAST: Mac = Mac([0xff; 6]);

    /// Group bit: broadcast and multicast addresses.
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }

    /// Bit 1 of the first octet: not from the IEEE registry.
    pub fn is_local(&self) -> bool {
        self.0[0] & 2 != 0
    }

    pub fn oui(&self) -> [u8; 3] {
        [self.0[0], self.0[1], self.0[2]]
    }
}

/// Lowercase, colon-separated, as arp-scan and `ip link` print it.
impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// Where a host's MAC prefix comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    Intel,
    Cisco,
    RaspberryPi,
    Hp,
    /// Locally administered (random first three octets with bit 1 set),
    /// like virtual machines and privacy addresses: no vendor.
    Local,
    /// One explicit OUI.
    Oui([u8; 3]),
}

/// Two registered OUIs per vendor and the organisation the IEEE registry
/// (/usr/share/ieee-data/oui.csv) lists for both.
const TABLE: [(Vendor, &str, [[u8; 3]; 2], &str); 4] = [
    (
        Vendor::Intel,
        "intel",
        [[0x00, 0x1b, 0x21], [0xa0, 0x36, 0x9f]],
        "Intel Corporate",
    ),
    (
        Vendor::Cisco,
        "cisco",
        [[0x00, 0x00, 0x0c], [0x00, 0x40, 0x0b]],
        "Cisco Systems, Inc",
    ),
    (
        Vendor::RaspberryPi,
        "raspberrypi",
        [[0xb8, 0x27, 0xeb], [0xdc, 0xa6, 0x32]],
        "Raspberry Pi",
    ),
    (
        Vendor::Hp,
        "hp",
        [[0x9c, 0x7b, 0xef], [0x3c, 0x52, 0x82]],
        "Hewlett Packard",
    ),
];

/// The mix of vendors a rule gets unless it names its own.
pub const DEFAULT_VENDORS: [Vendor; 4] = [
    Vendor::Intel,
    Vendor::Cisco,
    Vendor::RaspberryPi,
    Vendor::Hp,
];

impl Vendor {
    /// `intel`, `cisco`, `raspberrypi` (or `rpi`), `hp`, `local`, or an OUI
    /// like `00:1b:21` (not multicast, not locally administered).
    pub fn parse(s: &str) -> Result<Vendor, String> {
        match s {
            "rpi" => return Ok(Vendor::RaspberryPi),
            "local" => return Ok(Vendor::Local),
            _ => {}
        }
        if let Some(&(v, ..)) = TABLE.iter().find(|t| t.1 == s) {
            return Ok(v);
        }
        let hint = "expected intel, cisco, raspberrypi, hp, local or an OUI like 00:1b:21";
        let parts: Vec<&str> = s.split(':').collect();
        let [a, b, c] = parts[..] else {
            return Err(hint.into());
        };
        let mut oui = [0u8; 3];
        for (o, p) in oui.iter_mut().zip([a, b, c]) {
            if p.len() != 2 {
                return Err(hint.into());
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| hint.to_string())?;
        }
        if oui[0] & 3 != 0 {
            return Err("an OUI may not have the multicast or local bit set".into());
        }
        Ok(Vendor::Oui(oui))
    }

    /// The registry's organisation, for the vendors of the built-in table.
    pub fn org(&self) -> Option<&'static str> {
        TABLE.iter().find(|t| t.0 == *self).map(|t| t.3)
    }

    /// The OUIs to choose from; empty for `Local`.
    fn ouis(&self) -> Vec<[u8; 3]> {
        match self {
            Vendor::Oui(o) => vec![*o],
            Vendor::Local => Vec::new(),
            v => TABLE
                .iter()
                .find(|t| t.0 == *v)
                .map(|t| t.2.to_vec())
                .unwrap_or_default(),
        }
    }
}

const M24: u32 = 0x00ff_ffff;

/// A bijection on 24-bit numbers chosen by `seed`: odd multipliers, xor
/// shifts and additions, each invertible modulo 2^24.
pub fn permute24(seed: u64, i: u32) -> u32 {
    let k = word(seed, 0, 0, Tag::Mac, u64::MAX);
    let mut x = (i ^ k as u32) & M24;
    for (r, m) in [0x9e_3779u32, 0x85_ebcb, 0xc2_b2af].into_iter().enumerate() {
        x = x.wrapping_mul(m | 1) & M24;
        x ^= x >> 11;
        x = x.wrapping_add((k >> (16 + 8 * r)) as u32) & M24;
    }
    x
}

/// Indices at or above this are not host ordinals (at most 2^22 hosts).
pub const GATEWAY_INDEX: u32 = M24;

/// The MAC of the host with ordinal `index` (unique per host, below 2^24)
/// at address key `key`: the vendor and OUI are drawn per address from
/// `vendors`, the last three octets are `permute24(index)`. Distinct indices
/// give distinct last three octets, so no two hosts share a MAC whatever
/// their vendors.
pub fn host_mac(seed: u64, vendors: &[Vendor], key: u128, index: u32) -> Mac {
    let h = word(seed, key, 0, Tag::Mac, 0);
    let vendors = if vendors.is_empty() {
        &DEFAULT_VENDORS[..]
    } else {
        vendors
    };
    let v = vendors[(h % vendors.len() as u64) as usize];
    let ouis = v.ouis();
    let oui = match ouis.len() {
        0 => {
            let b = (h >> 32).to_be_bytes();
            [(b[0] & 0xfc) | 0x02, b[1], b[2]]
        }
        n => ouis[((h >> 16) % n as u64) as usize],
    };
    let nic = permute24(seed, index & M24).to_be_bytes();
    Mac([oui[0], oui[1], oui[2], nic[1], nic[2], nic[3]])
}

/// The simulated router's MAC (one interface for both families), a Cisco
/// OUI and an index no host can have.
pub fn gateway_mac(seed: u64) -> Mac {
    let nic = permute24(seed, GATEWAY_INDEX).to_be_bytes();
    Mac([0x00, 0x00, 0x0c, nic[1], nic[2], nic[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lowercase_colons() {
        let m = Mac([0x00, 0x1B, 0x21, 0xAB, 0x0c, 0xff]);
        assert_eq!(m.to_string(), "00:1b:21:ab:0c:ff");
        assert!(Mac::BROADCAST.is_multicast());
        assert!(!m.is_multicast() && !m.is_local());
    }

    #[test]
    fn permutation_is_a_bijection() {
        let mut seen = vec![0u64; (1 << 24) / 64];
        for i in 0..=M24 {
            let x = permute24(7, i);
            assert!(x <= M24);
            let (w, b) = ((x / 64) as usize, x % 64);
            assert_eq!(seen[w] & (1 << b), 0, "{i} -> {x} twice");
            seen[w] |= 1 << b;
        }
        assert_ne!(permute24(7, 5), permute24(8, 5));
    }

    #[test]
    fn macs_deterministic_unique_and_from_the_vendors_asked() {
        let all = DEFAULT_VENDORS;
        let mut macs = std::collections::HashSet::new();
        let mut per_vendor = [0u32; 4];
        for i in 0..4096u32 {
            let key = 0xc612_0000 + u128::from(i);
            let m = host_mac(3, &all, key, i);
            assert_eq!(m, host_mac(3, &all, key, i));
            assert!(macs.insert(m), "{m} twice");
            let v = TABLE
                .iter()
                .position(|t| t.2.contains(&m.oui()))
                .expect("a table OUI");
            per_vendor[v] += 1;
        }
        // Each of the four vendors gets roughly a quarter.
        assert!(
            per_vendor.iter().all(|&n| (850..1200).contains(&n)),
            "{per_vendor:?}"
        );
        let gw = gateway_mac(3);
        assert!(!macs.contains(&gw));
        assert_eq!(gw.oui(), [0, 0, 0x0c]);
        // A different seed moves every host.
        assert_ne!(
            host_mac(3, &all, 0xc612_0001, 1),
            host_mac(4, &all, 0xc612_0001, 1)
        );

        let only = [Vendor::Hp];
        for i in 0..64u32 {
            let m = host_mac(1, &only, u128::from(i), i);
            assert!([[0x9c, 0x7b, 0xef], [0x3c, 0x52, 0x82]].contains(&m.oui()));
        }
        let local = host_mac(1, &[Vendor::Local], 9, 9);
        assert!(local.is_local() && !local.is_multicast());
        let oui = host_mac(1, &[Vendor::Oui([0x00, 0x50, 0xb6])], 9, 9);
        assert_eq!(oui.oui(), [0x00, 0x50, 0xb6]);
    }

    #[test]
    fn vendor_names() {
        assert_eq!(Vendor::parse("rpi"), Ok(Vendor::RaspberryPi));
        assert_eq!(Vendor::parse("raspberrypi"), Ok(Vendor::RaspberryPi));
        assert_eq!(Vendor::parse("00:1B:21"), Ok(Vendor::Oui([0, 0x1b, 0x21])));
        assert!(Vendor::parse("01:00:5e").is_err());
        assert!(Vendor::parse("apple").is_err());
        assert!(Vendor::parse("0:1b:21").is_err());
        assert!(Vendor::parse("00:1b:21:00").is_err());
        assert_eq!(Vendor::Cisco.org(), Some("Cisco Systems, Inc"));
    }

    /// The built-in OUIs belong to the organisations claimed, per the IEEE
    /// registry as Debian ships it (ieee-data), where that is installed.
    #[test]
    fn ouis_match_the_ieee_registry() {
        let Ok(csv) = std::fs::read_to_string("/usr/share/ieee-data/oui.csv") else {
            eprintln!("ieee-data not installed: registry cross-check skipped");
            return;
        };
        for (_, name, ouis, org) in TABLE {
            for o in ouis {
                let hex = format!("MA-L,{:02X}{:02X}{:02X},", o[0], o[1], o[2]);
                let line = csv
                    .lines()
                    .find(|l| l.starts_with(&hex))
                    .unwrap_or_else(|| panic!("{name}: {hex} not in the registry"));
                assert!(line.contains(org), "{name}: {line}");
            }
        }
    }
}
