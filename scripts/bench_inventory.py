#!/usr/bin/env python3
"""Inventory figures (issue 26): a year of nightly /16 runs imported into one database,
then the questions timed. Sends no packet: the runs are generated CSVs, each the night's
hosts up in 198.18.0.0/16 (16,545 at first, about 2 % of them changing each night).

Usage: scripts/bench_inventory.py SWEEP_BINARY WORKDIR [NIGHTS] [DB]
Prints one line per measurement; the database is left in WORKDIR/inventory.db, or DB: a
postgresql:// URL of an empty database (issue 27) times the PostgreSQL backend (its size
read with psql).
"""
import datetime, os, random, subprocess, sys, time

sweep, work = sys.argv[1], sys.argv[2]
nights = int(sys.argv[3]) if len(sys.argv) > 3 else 365
os.makedirs(work, exist_ok=True)
db = sys.argv[4] if len(sys.argv) > 4 else os.path.join(work, "inventory.db")
server = db.startswith(("postgresql://", "postgres://"))
for suffix in ("", "-wal", "-shm"):
    if not server and os.path.exists(db + suffix):
        os.remove(db + suffix)
rng = random.Random(26)
space = list(range(1, 65535))  # 198.18.0.1 .. 198.18.255.254
up = set(rng.sample(space, 16545))
header = "addr,status,rtt_ms,ttl,responder,probes,dups,detail,mac,vendor"
first = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(days=nights)
record_times = []
for n in range(nights):
    if n:
        leave = rng.sample(sorted(up), len(up) // 100)
        down = [a for a in rng.sample(space, 2000) if a not in up][: len(up) // 100]
        up.difference_update(leave)
        up.update(down)
    stamp = (first + datetime.timedelta(days=n)).strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(work, f"hosts.{stamp}.csv")
    with open(path, "w", newline="") as f:
        f.write(header + "\r\n")
        for a in sorted(up):
            ip = f"198.18.{a >> 8}.{a & 255}"
            f.write(f"{ip},up,0.100,64,{ip},1,0,,,\r\n")
    t = time.monotonic()
    r = subprocess.run([sweep, "inventory", "import", path, "--targets", "198.18.0.0/16", "--db", db],
                       capture_output=True, text=True)
    record_times.append(time.monotonic() - t)
    os.remove(path)
    if r.returncode != 0:
        sys.exit(f"night {n}: {r.stderr}")
record_times.sort()
print(f"{nights} nightly imports of a /16 (65,534 targets, ~16,545 up): "
      f"median {record_times[len(record_times)//2]:.3f} s, max {record_times[-1]:.3f} s each")
if server:
    size = int(subprocess.run(["psql", "-XAtc", "SELECT pg_database_size(current_database())", db],
                              capture_output=True, text=True, check=True).stdout)
else:
    size = sum(os.path.getsize(db + s) for s in ("", "-wal", "-shm") if os.path.exists(db + s))
print(f"database: {size / 1e6:.1f} MB")
probe = f"198.18.{rng.choice(space) >> 8}.7"
for q in (["hosts", "--new-since", "7d"], ["events", "--since", "7d"], ["host", probe],
          ["free", "198.18.3.0/24", "--for", "90d"], ["hosts"]):
    best = None
    for _ in range(3):
        t = time.monotonic()
        r = subprocess.run([sweep, "inventory", *q, "--db", db], capture_output=True, text=True)
        dt = time.monotonic() - t
        best = dt if best is None else min(best, dt)
    rows = max(0, r.stdout.count("\n") - 1)
    print(f"inventory {' '.join(q)}: {best * 1000:.0f} ms, {rows} rows (exit {r.returncode})")
