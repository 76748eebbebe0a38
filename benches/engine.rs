//! Per-operation micro-benchmarks for sweep's hot paths, so a regression in one stage
//! shows up on its own: probe patching and its keyed PRF, reply validation (good and damaged), permutation
//! steps, table updates and CSV formatting.
//!
//! `cargo bench --bench engine` runs them all in about a minute; each group keeps its
//! warm-up and measurement windows short on purpose.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;
use std::time::SystemTime;
use sweep::engine::receiver::Heard;
use sweep::engine::table::Table;
use sweep::engine::{Shard, Slots};
use sweep::probe::validate::{Validator, Verdict};
use sweep::probe::{Key, ProbeTemplate, Proto};
use sweep::results::output::{Field, Format, Layout, Results};
use sweep::results::{self, prom::ScanFacts};
use sweep::targets::permute::Permutation;
use sweep::targets::Targets;
use sweep::wire::{checksum, ECHO_REPLY};

/// 198.18.0.0/15 minus network and broadcast: 131,070 targets, like a lab scan.
fn lab_targets() -> Targets {
    let first = u32::from(Ipv4Addr::new(198, 18, 0, 1));
    Targets::from_v4(vec![(first, first + 131_069)], vec![])
}

/// What a host sends back for `probe`: type 0, checksum fixed, inside an IPv4 header.
fn reply_to(probe: &[u8], src: std::net::IpAddr, ttl: u8) -> Vec<u8> {
    let mut icmp = probe.to_vec();
    icmp[0] = ECHO_REPLY;
    icmp[2..4].fill(0);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut pkt = vec![0x45, 0, 0, 0, 0, 0, 0, 0, ttl, 1, 0, 0];
    pkt[2..4].copy_from_slice(&total.to_be_bytes());
    let std::net::IpAddr::V4(src) = src else {
        panic!("IPv4 only")
    };
    pkt.extend_from_slice(&src.octets());
    pkt.extend_from_slice(&[192, 0, 2, 1]);
    pkt.extend_from_slice(&icmp);
    let c = checksum(&pkt[..20]);
    pkt[10..12].copy_from_slice(&c.to_be_bytes());
    pkt
}

fn probe_write(c: &mut Criterion) {
    let key = Key::from_bytes([1; 16]);
    let mut g = c.benchmark_group("probe");
    g.throughput(Throughput::Elements(1));
    // The keyed PRF alone: what each probe pays for its sequence number and tag
    // (two SipHash-2-4 calls); `write/*` below includes it.
    let mut i = 0u32;
    g.bench_function("prf/seq+tag", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let k = black_box(&key);
            (k.seq(i), k.tag(i, u64::from(i) * 1000))
        })
    });
    for payload in [56usize, 1400] {
        let t = ProbeTemplate::new(key, payload, Proto::Icmp4);
        let mut buf = vec![0u8; t.len()];
        let mut i = 0u32;
        g.bench_function(format!("write/{payload}B"), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                t.write(black_box(&mut buf), i, 1, u64::from(i) * 1000);
                black_box(&buf);
            })
        });
    }
    g.finish();
}

fn validate(c: &mut Criterion) {
    let key = Key::from_bytes([1; 16]);
    let targets = lab_targets();
    let v = Validator::new(key, true, &targets);
    let t = ProbeTemplate::new(key, 56, Proto::Icmp4);
    let mut probe = vec![0u8; t.len()];
    let index = 100_000u32;
    t.write(&mut probe, index, 0, 123_456);
    let good = reply_to(&probe, targets.addr_at(u64::from(index)), 61);
    assert!(matches!(v.classify_ipv4(&good), Verdict::Reply { .. }));
    let mut bad = good.clone();
    bad[40] ^= 0x55; // payload byte: the ICMP checksum no longer holds
    assert!(matches!(v.classify_ipv4(&bad), Verdict::Ignore(_)));

    let mut g = c.benchmark_group("validate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("classify_ipv4/valid_reply", |b| {
        b.iter(|| v.classify_ipv4(black_box(&good)))
    });
    g.bench_function("classify_ipv4/bad_checksum", |b| {
        b.iter(|| v.classify_ipv4(black_box(&bad)))
    });
    g.finish();
}

fn permutation(c: &mut Criterion) {
    let mut g = c.benchmark_group("permute");
    g.throughput(Throughput::Elements(1));
    // A /16 (2^16 - 2: cycle-walking almost never needed), a /15 and a /8-sized space,
    // and a size just above a power of two (worst case for cycle-walking).
    for (name, n) in [
        ("at/n=65534", 65_534u64),
        ("at/n=2^24-2", (1 << 24) - 2),
        ("at/n=2^16+1", 65_537),
    ] {
        let p = Permutation::new(n, 7);
        let mut pos = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                pos += 1;
                if pos == n {
                    pos = 0;
                }
                p.at(black_box(pos))
            })
        });
        // The inverse: what a shard's table pays per access to find a target's slot.
        let mut i = 0u64;
        g.bench_function(name.replace("at/", "position_of/"), |b| {
            b.iter(|| {
                i += 1;
                if i == n {
                    i = 0;
                }
                p.position_of(black_box(i))
            })
        });
    }
    g.finish();
}

fn table(c: &mut Criterion) {
    const N: usize = 1 << 16;
    let mut g = c.benchmark_group("table");
    // First replies: every call sets a fresh cell up (the common case in a scan); one
    // iteration answers a whole fresh 65,536-cell table, so throughput is per cell.
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("record_reply/first", |b| {
        b.iter_batched_ref(
            || Table::new(N, false),
            |t| {
                for i in 0..N as u32 {
                    black_box(t.record_reply(i, 1500, 64, 0));
                }
            },
            BatchSize::LargeInput,
        )
    });
    // Duplicates on an already answered table.
    g.throughput(Throughput::Elements(1));
    let t = Table::new(N, false);
    for i in 0..N as u32 {
        t.record_reply(i, 1500, 64, 0);
    }
    let mut i = 0u32;
    g.bench_function("record_reply/duplicate", |b| {
        b.iter(|| {
            i = (i + 1) & (N as u32 - 1);
            t.record_reply(black_box(i), 1500, 64, 0)
        })
    });
    g.bench_function("add_probe", |b| {
        b.iter(|| {
            i = (i + 1) & (N as u32 - 1);
            t.add_probe(black_box(i))
        })
    });
    // Shard 0 of 4 of a 2^18-target scan: the same 65,536 first replies, each finding its
    // slot through the permutation's inverse.
    let perm = Permutation::new(4 * N as u64, 7);
    let mine: Vec<u32> = (0..N as u64).map(|k| perm.at(4 * k) as u32).collect();
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("record_reply/first/shard_0_of_4", |b| {
        b.iter_batched_ref(
            || Table::of(Slots::new(Shard { index: 0, count: 4 }, &perm), false),
            |t| {
                for &i in &mine {
                    black_box(t.record_reply(i, 1500, 64, 0));
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn csv(c: &mut Criterion) {
    const N: u32 = 1 << 16;
    let first = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    let targets = Targets::from_v4(vec![(first, first + N - 1)], vec![]);
    let table = Table::new(N as usize, false);
    for i in 0..N {
        table.add_probe(i);
        if i % 4 == 0 {
            table.record_reply(i, 1000 + i, 64, 0);
        }
    }
    let heard = Heard::default();
    let hostnames = HashMap::new();
    let results = Results {
        targets: &targets,
        table: &table,
        heard: &heard,
        started: SystemTime::UNIX_EPOCH,
        hostnames: &hostnames,
        partial: false,
        macs: &HashMap::new(),
        count: None,
    };
    let layout = |all| Layout {
        format: Format::Csv,
        fields: Field::DEFAULT.to_vec(),
        all,
        csv_raw: false,
    };
    let (all, up_only) = (layout(true), layout(false));
    let facts = ScanFacts {
        targets: u64::from(N),
        up: u64::from(N / 4),
        elapsed: Duration::from_secs(1),
        probes: u64::from(N),
        started: SystemTime::UNIX_EPOCH,
    };
    let mut out = Vec::with_capacity(8 << 20);
    let mut g = c.benchmark_group("csv");
    // Reported per row (65,536 rows with --all, 16,384 up rows without).
    g.throughput(Throughput::Elements(u64::from(N)));
    g.bench_function("write_csv/all_65536", |b| {
        b.iter(|| {
            out.clear();
            results::write(&mut out, &all, &results, &facts).unwrap();
            black_box(out.len())
        })
    });
    // The same /16 as nmap's XML and as the HTML report, beside the CSV.
    for (name, format) in [
        ("write_nmap_xml/all_65536", Format::NmapXml),
        ("write_html/all_65536", Format::Html),
    ] {
        let layout = Layout {
            format,
            ..layout(true)
        };
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                results::write(&mut out, &layout, &results, &facts).unwrap();
                black_box(out.len())
            })
        });
    }
    g.throughput(Throughput::Elements(u64::from(N / 4)));
    g.bench_function("write_csv/up_only_16384", |b| {
        b.iter(|| {
            out.clear();
            results::write(&mut out, &up_only, &results, &facts).unwrap();
            black_box(out.len())
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = probe_write, validate, permutation, table, csv
}
criterion_main!(benches);
