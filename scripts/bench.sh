#!/usr/bin/env bash
# Benchmark sweep against fping, nmap, zmap and masscan on the same targets, in
# network namespaces only (kernel lab from scripts/lab.sh, the sweep-sim TUN
# network, and loopback inside a fresh namespace). Nothing is sent outside
# 127.0.0.0/8 or namespaces this script creates.
#
#   scenario lab16   198.18.0.0/16 (~25% alive) + 203.0.113.0/24 (host-unreachable)
#   scenario lab15   198.18.0.0/15, every host alive, + 203.0.113.0/24
#   scenario sim     sweep-sim: 198.18.0.0/18 (25% alive, RTT 50-300 ms, 5% loss
#                    each way) + 203.0.113.0/24 unreachable; fping, nmap, sweep
#                    (zmap and masscan need an Ethernet link; TUN is layer 3)
#   scale            sweep --rate max over 127.0.0.0/8 (16.7 M targets, all answer)
#                    in a fresh namespace with only lo
#
# Tools run interleaved (each repetition runs every tool once, in a rotated
# order). Writes bench/results.csv (one row per run), bench/RESULTS.md (medians,
# ratios, machine) and bench/plot.svg. Text between the manual markers in
# bench/RESULTS.md (the profile write-up) is kept when it is regenerated.
#
# usage: scripts/bench.sh [--reps N] [--quick] [--no-scale] [--no-install]
#                         [--no-perf] [--keep]
#   --reps N      repetitions per scenario (default 3)
#   --quick       1 repetition, lab16 and sim only, no scale run
#   --no-scale    skip the 127.0.0.0/8 run (about 2.5 minutes on 2 cores)
#   --no-install  don't apt-get anything (fail if a tool is missing)
#   --no-perf     skip the profile: by default sweep --rate max on a /16 lab is
#                 sampled with perf (cpu-clock) into bench/profile.txt
#   --keep        keep the raw outputs in bench/tmp/
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

REPS=3
QUICK=0
SCALE=1
INSTALL=1
PERF=1
KEEP=0

die() {
	echo "bench.sh: $*" >&2
	exit 1
}

usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
	exit 2
}

while [[ $# -gt 0 ]]; do
	case $1 in
	--reps) REPS=${2:?--reps needs a value}; shift 2 ;;
	--quick) QUICK=1; REPS=1; SCALE=0; shift ;;
	--no-scale) SCALE=0; shift ;;
	--scale) SCALE=1; shift ;;
	--no-install) INSTALL=0; shift ;;
	--perf) PERF=1; shift ;;
	--no-perf) PERF=0; shift ;;
	--keep) KEEP=1; shift ;;
	-h | --help) usage ;;
	*) die "unknown option '$1' (try --help)" ;;
	esac
done
[[ $REPS =~ ^[1-9][0-9]?$ ]] || die "--reps wants 1-99, got '$REPS'"
[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces, raw sockets)"

# ---------------------------------------------------------------- tools
need_pkgs() {
	local -a pkgs=()
	command -v ip >/dev/null || pkgs+=(iproute2)
	command -v nft >/dev/null || pkgs+=(nftables)
	command -v fping >/dev/null || pkgs+=(fping)
	command -v nmap >/dev/null || pkgs+=(nmap)
	command -v zmap >/dev/null || pkgs+=(zmap)
	command -v masscan >/dev/null || pkgs+=(masscan)
	[[ -x /usr/bin/time ]] || pkgs+=(time)
	command -v hyperfine >/dev/null || pkgs+=(hyperfine) # not needed by this script; handy for ad-hoc reruns
	command -v python3 >/dev/null || pkgs+=(python3)
	command -v timeout >/dev/null || pkgs+=(coreutils)
	command -v ping >/dev/null || pkgs+=(iputils-ping)
	echo "${pkgs[@]}"
}
missing=$(need_pkgs)
if [[ -n $missing ]]; then
	((INSTALL)) || die "missing tools: $missing (run without --no-install)"
	echo "== apt-get install $missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq $missing >/dev/null
fi
if ((PERF)) && ! command -v perf >/dev/null && ((INSTALL)); then
	# Optional: the profile is skipped if perf can't be had.
	apt-get install -y -qq linux-perf >/dev/null 2>&1 || true
fi
if ((PERF)) && ! perf stat -e cpu-clock true >/dev/null 2>&1; then
	echo "bench.sh: perf is not usable here; no profile" >&2
	PERF=0
fi

echo "== cargo build --release -p sweep"
cargo build --release -q -p sweep
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SWEEP=$TARGET_DIR/release/sweep
SIM=
echo "== cargo build --release -p sweep-sim"
if cargo build --release -q -p sweep-sim --bin sweep-sim; then
	SIM=$TARGET_DIR/release/sweep-sim
else
	echo "bench.sh: sweep-sim does not build; the sim scenario is skipped" >&2
fi

# ---------------------------------------------------------------- workspace
OUTDIR=$ROOT/bench
WORK=$OUTDIR/tmp
rm -rf "$WORK"
mkdir -p "$WORK"
RESULTS=$OUTDIR/results.csv
PREFIX_NS=swbench # every namespace this script makes starts with this
LABS=()
NETNS=()
BGPIDS=()

cleanup() {
	local p ns
	for p in "${BGPIDS[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	for ns in "${LABS[@]}"; do
		bash "$ROOT/scripts/lab.sh" down --name "$ns" >/dev/null 2>&1 || true
	done
	for ns in "${NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	((KEEP)) || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python_helper() { python3 "$WORK/bench.py" "$@"; }

# The scorer, report and plot writer (plain python3, no packages).
cat >"$WORK/bench.py" <<'PY'
import csv, json, os, re, statistics, sys, html

def read_set(path, parse):
    out = set()
    if os.path.exists(path):
        with open(path, newline="") as f:
            for line in f:
                a = parse(line.strip())
                if a:
                    out.add(a)
    return out

IP = re.compile(r"^\d+\.\d+\.\d+\.\d+$")

def found_sweep(path):
    up, unreach = set(), set()
    if os.path.exists(path):
        with open(path, newline="") as f:
            r = csv.reader(f)
            next(r, None)
            for row in r:
                if len(row) > 1 and row[1] == "up":
                    up.add(row[0])
                elif len(row) > 1 and row[1] == "unreachable":
                    unreach.add(row[0])
    return up, unreach

def found(kind, out):
    if kind == "sweep":
        return found_sweep(out)
    if kind in ("fping", "zmap"):      # one address per line
        return read_set(out, lambda l: l if IP.match(l) else None), set()
    if kind == "nmap":                 # -oG: "Host: A ()\tStatus: Up"
        return read_set(out, lambda l: l.split()[1] if l.startswith("Host:") and "Status: Up" in l else None), set()
    if kind == "masscan":              # -oL: "open icmp 0 A ts"
        return read_set(out, lambda l: l.split()[3] if l.startswith("open icmp") else None), set()
    raise SystemExit("unknown kind " + kind)

def tool_probes(kind, err):
    if not os.path.exists(err):
        return ""
    text = open(err, errors="replace").read()
    pats = {"sweep": r"(\d+) probes in", "fping": r"(\d+) ICMP Echos sent"}
    m = re.search(pats[kind], text) if kind in pats else None
    return m.group(1) if m else ""

def score(kind, out, err, truth, targets):
    tgt = set(l.strip() for l in open(targets) if l.strip())
    exp = {}
    with open(truth, newline="") as f:
        r = csv.reader(f)
        next(r)
        for row in r:
            if row and row[0] in tgt:
                exp[row[0]] = row[1]
    up_truth = {a for a, e in exp.items() if e == "up"}
    un_truth = {a for a, e in exp.items() if e == "unreachable"}
    up, un = found(kind, out)
    tp = len(up & up_truth)
    fp = len((up & tgt) - up_truth)          # a target the truth says is not up
    extra = len(up - tgt)                    # answered but not in the target list
    un_ok = len(un & un_truth)
    recall = tp / len(up_truth) if up_truth else 1.0
    print(",".join(str(x) for x in [tool_probes(kind, err), len(up_truth), len(up), tp,
                                    "%.5f" % recall, fp, extra, len(un_truth), un_ok]))

def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def fmt(x, p=2):
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return "{:,.0f}".format(x)
    return ("{:.%df}" % p).format(x)

SCEN_TITLE = {
    "lab16": "Kernel lab: 198.18.0.0/16 (~25% alive) + 203.0.113.0/24 unreachable",
    "lab15": "Kernel lab: 198.18.0.0/15, every host alive, + 203.0.113.0/24 unreachable",
    "sim": "sweep-sim: 198.18.0.0/18 (25% alive, RTT 50-300 ms, 5% loss each way) + 203.0.113.0/24 unreachable",
    "scale": "Scale: 127.0.0.0/8 on loopback (16,777,214 targets, all answer)",
}

def load(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))

def summarise(rows):
    """(scenario, tool) -> medians; order of first appearance."""
    groups = {}
    for r in rows:
        groups.setdefault((r["scenario"], r["tool"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        g = lambda k: [num(r[k]) for r in rs]
        recalls = [x for x in g("recall") if x is not None]
        out[key] = dict(
            config=rs[0]["config"], runs=len(rs), targets=rs[0]["targets"],
            wall=med(g("wall_s")), cpu=med(g("cpu_s")), rss=med(g("max_rss_kb")),
            pps=med(g("probes_per_s")), probes=med(g("wire_probes")),
            tprobes=med(g("tool_probes")),
            recall=med(recalls), recall_min=min(recalls) if recalls else None,
            fp=max((int(r["false_pos"] or 0) for r in rs), default=0),
            extra=max((int(r["extra"] or 0) for r in rs), default=0),
            un_truth=rs[0]["unreach_truth"], un_found=med(g("unreach_found")),
            rcs=sorted(set(r["rc"] for r in rs)),
            notes=sorted(set(r["note"] for r in rs if r["note"])),
        )
    return out

MARK_BEGIN = "<!-- manual:begin -->"
MARK_END = "<!-- manual:end -->"

def report(results, machine, out_md):
    rows = load(results)
    s = summarise(rows)
    keep = ""
    if os.path.exists(out_md):
        old = open(out_md).read()
        if MARK_BEGIN in old and MARK_END in old:
            keep = old[old.index(MARK_BEGIN):old.index(MARK_END) + len(MARK_END)]
    if not keep:
        keep = MARK_BEGIN + "\n" + MARK_END
    L = ["# sweep benchmark results", "",
         "Generated by `scripts/bench.sh` from `bench/results.csv` (one row per run). "
         "Wall, CPU (user+sys), peak RSS and probes/s are **medians** over the repetitions; "
         "recall is the median (worst in brackets); FP is the worst run. "
         "`probes/s` = packets the scanner put on its interface (veth0 / sim0 tx counter) "
         "divided by wall time; `tool probes` is what the tool itself reports, where it does. "
         "`× sweep` is wall time relative to `sweep --rate max` in the same scenario "
         "(above 1 = slower than sweep).", "",
         "![wall time and recall per tool](plot.svg)", ""]
    L.append("## Machine")
    L.append("")
    for k, v in machine:
        L.append("- **%s**: %s" % (k, v))
    L.append("")
    scen_order = []
    for (sc, _t) in s:
        if sc not in scen_order:
            scen_order.append(sc)
    for sc in scen_order:
        tools = [(t, v) for (c, t), v in s.items() if c == sc]
        ref = s.get((sc, "sweep-max"), {}).get("wall")
        L.append("## " + SCEN_TITLE.get(sc, sc))
        L.append("")
        if sc == "scale":
            L.append("| tool | runs | wall s | CPU s | peak RSS MB | bytes/target | probes | probes/s (scan) | up | rc |")
            L.append("|---|---|---|---|---|---|---|---|---|---|")
            for t, v in tools:
                tg = num(v["targets"]) or 1
                pps = (v["tprobes"] or 0) / v["wall"] if v["wall"] else None
                L.append("| `%s` | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    v["config"], v["runs"], fmt(v["wall"]), fmt(v["cpu"]),
                    fmt((v["rss"] or 0) / 1024, 1), fmt((v["rss"] or 0) * 1024 / tg, 1),
                    fmt(v["tprobes"], 0), fmt(pps, 0), fmt(v["recall"] * 100 if v["recall"] is not None else None, 3) + "%",
                    "/".join(v["rcs"])))
            L.append("")
            for t, v in tools:
                for n in v["notes"]:
                    L.append("- `%s`: %s" % (t, n))
            L.append("")
            continue
        L.append("| tool | command | runs | wall s | × sweep | CPU s | RSS MB | probes/s | wire probes | tool probes | recall % | FP | extra | unreach found/truth | rc |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for t, v in tools:
            ratio = v["wall"] / ref if ref and v["wall"] else None
            rec = "–" if v["recall"] is None else "%.2f (%.2f)" % (v["recall"] * 100, v["recall_min"] * 100)
            un = "%s/%s" % (fmt(v["un_found"], 0), v["un_truth"]) if t.startswith("sweep") else "–"
            L.append("| %s | `%s` | %d | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d | %s | %s |" % (
                t, v["config"], v["runs"], fmt(v["wall"]), fmt(ratio), fmt(v["cpu"]),
                fmt((v["rss"] or 0) / 1024, 1), fmt(v["pps"], 0), fmt(v["probes"], 0),
                fmt(v["tprobes"], 0), rec, v["fp"], v["extra"], un, "/".join(v["rcs"])))
        L.append("")
        for t, v in tools:
            for n in v["notes"]:
                L.append("- `%s`: %s" % (t, n))
        L.append("")
    L.append("## Notes on the settings")
    L.append("")
    L.append(open(os.environ["BENCH_NOTES"]).read().rstrip() if os.environ.get("BENCH_NOTES") else "")
    L.append("")
    L.append("## Profile and observations")
    L.append("")
    L.append(keep)
    L.append("")
    open(out_md, "w").write("\n".join(L))

def plot(results, out_svg):
    s = summarise(load(results))
    scen = []
    for (sc, _t) in s:
        if sc not in scen and sc != "scale":
            scen.append(sc)
    bar, gap, left, panel_w = 16, 4, 150, 330
    y = 40
    parts = []
    colors = {"sweep": "#1f77b4", "fping": "#ff7f0e", "nmap": "#2ca02c", "zmap": "#9467bd", "masscan": "#d62728"}
    def text(x, y, t, anchor="start", size=12, weight="normal"):
        parts.append('<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" font-weight="%s">%s</text>'
                     % (x, y, size, anchor, weight, html.escape(t)))
    text(10, 22, "sweep vs peers: median wall time (s, left) and median recall (%, right)", size=14, weight="bold")
    for sc in scen:
        tools = [(t, v) for (c, t), v in s.items() if c == sc]
        text(10, y + 14, SCEN_TITLE.get(sc, sc), size=12, weight="bold")
        y += 24
        wmax = max((v["wall"] or 0) for _, v in tools) or 1
        rmin = min((v["recall"] for _, v in tools if v["recall"] is not None), default=1)
        lo = min(0.8, int(rmin * 20) / 20)      # recall axis starts here (multiple of 5%)
        text(left, y + 10, "wall time, s (median)", size=10)
        text(left + panel_w + 70, y + 10, "recall, axis from %d%% to 100%%" % round(lo * 100), size=10)
        y += 14
        for t, v in tools:
            c = colors.get(t.split("-")[0], "#777")
            text(left - 6, y + bar - 4, t, anchor="end", size=11)
            w = (v["wall"] or 0) / wmax * panel_w
            parts.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>' % (left, y, w, bar, c))
            text(left + w + 4, y + bar - 4, fmt(v["wall"]), size=10)
            x2 = left + panel_w + 70
            rec = v["recall"] or 0
            rw = max(0.0, (rec - lo) / (1 - lo)) * panel_w
            parts.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s" opacity="0.55"/>' % (x2, y, rw, bar, c))
            text(x2 + rw + 4, y + bar - 4, "%.2f%%%s" % (rec * 100, " (stopped early)" if v["notes"] and "stopped" in v["notes"][0] else ""), size=10)
            y += bar + gap
        y += 16
    width = left + 2 * panel_w + 200
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">' % (width, y + 10),
           '<rect width="100%" height="100%" fill="white"/>'] + parts + ["</svg>"]
    open(out_svg, "w").write("\n".join(svg) + "\n")

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "score":
        score(*sys.argv[2:7])
    elif cmd == "report":
        machine = json.load(open(sys.argv[3]))
        report(sys.argv[2], machine, sys.argv[4])
    elif cmd == "plot":
        plot(sys.argv[2], sys.argv[3])
PY

HEADER="date,scenario,rep,tool,config,targets,rc,wall_s,user_s,sys_s,cpu_s,max_rss_kb,wire_probes,tool_probes,probes_per_s,truth_up,found_up,true_pos,recall,false_pos,extra,unreach_truth,unreach_found,note"
echo "$HEADER" >"$WORK/results.csv"

# ---------------------------------------------------------------- running one tool
# Per-scenario globals: SCEN NS DEV SPECS[] LIST TRUTH MAC ALLOW
tx_packets() { ip netns exec "$NS" cat "/sys/class/net/$DEV/statistics/tx_packets"; }

# run_tool ID REP: runs one tool once under /usr/bin/time and appends a row.
run_tool() {
	local id=$1 rep=$2 kind config out err limit=180
	out=$WORK/$SCEN-$id-$rep.out
	err=$WORK/$SCEN-$id-$rep.err
	local -a cmd
	case $id in
	# sweep's defaults: --rate 10000 --retries 2 --timeout 1s. --all so the CSV
	# also lists unreachable targets (checked against the truth); seeds fixed per rep.
	sweep-default) cmd=("$SWEEP" --seed "$rep" --all -o "$out" "${SPECS[@]}") ;;
	# As fast as the machine allows, default retries (only unanswered targets are retried).
	sweep-max) cmd=("$SWEEP" --seed "$rep" --rate max --all -o "$out" "${SPECS[@]}") ;;
	# One probe per target, like the peers' settings below.
	sweep-max-r0) cmd=("$SWEEP" --seed "$rep" --rate max --retries 0 --timeout 500ms --all -o "$out" "${SPECS[@]}") ;;
	# Same, but one send_to per packet through pnet instead of sendmmsg batches.
	sweep-pnet-r0) cmd=("$SWEEP" --seed "$rep" --rate max --retries 0 --timeout 500ms --send-path pnet --all -o "$out" "${SPECS[@]}") ;;
	# fping: -i 0 no gap between probes, -r 0 no retries, -t 500 ms timeout.
	# -f LIST because -g takes one range only; LIST = the same targets sweep
	# probes (prefixes minus network/broadcast). -s prints "N ICMP Echos sent".
	# fping 5.1 keeps 65,535 sequence numbers for 10 s: beyond that many probes
	# it stops with "not enough sequence numbers available" (exit 4).
	fping-r0) cmd=(fping -a -q -s -i 0 -r 0 -t 500 -f "$LIST") ;;
	# fping's default retries (3, with back-off from -t 500).
	fping) cmd=(fping -a -q -s -i 0 -t 500 -f "$LIST") ;;
	# The engine issue's equal-settings pair, on the main prefix alone (fping -g
	# takes one range, and a /16 without network/broadcast fits fping's 65,535
	# sequence numbers exactly): sweep --rate max --retries 0 --timeout 500ms vs
	# fping -g PREFIX -a -q -i 0 -r 0 -t 500.
	sweep-g-r0) cmd=("$SWEEP" --seed "$rep" --rate max --retries 0 --timeout 500ms -o "$out" "$PREFIX") ;;
	fping-g-r0) cmd=(fping -a -q -s -i 0 -r 0 -t 500 -g "$PREFIX") ;;
	# nmap: ping scan, ICMP echo only, no DNS, at least 100k probes/s, no retransmissions.
	nmap) cmd=(nmap -sn -PE -n --min-rate 100000 --max-retries 0 -oG "$out" "${SPECS[@]}") ;;
	# zmap: ICMP echo module, -r 0 = no rate limit, 1 s cooldown for late replies,
	# -G the next hop's MAC (zmap writes Ethernet frames itself). zmap's default
	# blocklist (/etc/zmap/blocklist.conf) excludes 198.18.0.0/15, so -b points
	# at an empty file and -w allows exactly the scenario's prefixes.
	zmap) cmd=(zmap -M icmp_echoscan -r 0 -c 1 -i "$DEV" -G "$MAC" -S 192.0.2.1 -b "$WORK/empty.conf" -w "$ALLOW" --disable-syslog -q -o "$out") ;;
	# masscan: ICMP echo, 1 M probes/s cap (it reaches ~200k here), 1 s wait for
	# late replies, Ethernet frames to the router's MAC from veth0.
	masscan) cmd=(masscan --ping "${SPECS[@]}" --rate 1000000 --wait 1 --router-mac "$MAC" --adapter "$DEV" --adapter-ip 192.0.2.1 -oL "$out") ;;
	*) die "unknown tool $id" ;;
	esac
	kind=${id%%-*}
	config="${cmd[*]}"
	config=${config//$out/OUT}
	config=${config//$LIST/TARGETS.txt}
	config=${config//$TARGET_DIR\/release\//}
	config=${config//$WORK\//}
	[[ -n $MAC ]] && config=${config//$MAC/MAC}

	local keepalive=
	if [[ $id == masscan ]]; then
		# masscan 1.3.2's receive thread blocks in pcap until a packet arrives, so
		# on a silent link it never ends its --wait (countdown goes negative for
		# minutes). A 10/s ping to the next hop keeps packets arriving; masscan
		# ignores them (wrong cookie). Costs ~30 packets per run.
		ip netns exec "$NS" ping -q -i 0.1 -w $((limit + 10)) 192.0.2.2 >/dev/null 2>&1 &
		keepalive=$!
		BGPIDS+=("$keepalive")
	fi
	local tx0 tx1 rc=0
	tx0=$(tx_packets)
	/usr/bin/time -o "$WORK/time" -f "%e %U %S %M" \
		timeout -s INT -k 5 "$limit" ip netns exec "$NS" "${cmd[@]}" >"$WORK/stdout" 2>"$err" || rc=$?
	tx1=$(tx_packets)
	if [[ -n $keepalive ]]; then
		kill "$keepalive" 2>/dev/null || true
		wait "$keepalive" 2>/dev/null || true
	fi
	# fping's -a list goes to stdout.
	if [[ $kind == fping ]]; then mv "$WORK/stdout" "$out"; fi
	local wall user sys rss
	read -r wall user sys rss < <(grep -E '^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+$' "$WORK/time" | tail -1)
	local cpu probes pps score note=
	cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
	probes=$((tx1 - tx0))
	pps=$(awk -v p="$probes" -v w="$wall" 'BEGIN { printf "%.0f", (w > 0 ? p / w : 0) }')
	score=$(python_helper score "$kind" "$out" "$err" "$TRUTH" "$LIST")
	if grep -q "not enough sequence numbers" "$err" 2>/dev/null; then
		note="stopped early: fping 'not enough sequence numbers available' (at most 65535 probes per 10 s)"
	elif ((rc == 124 || rc == 137)); then
		note="killed by the ${limit}s time limit"
	fi
	local ntargets
	ntargets=$(wc -l <"$LIST")
	# Column order: see HEADER (probes_per_s sits between tool_probes and truth_up).
	local tprobes rest
	tprobes=${score%%,*}
	rest=${score#*,}
	echo "$(date -u +%FT%TZ),$SCEN,$rep,$id,\"$config\",$ntargets,$rc,$wall,$user,$sys,$cpu,$rss,$probes,$tprobes,$pps,$rest,\"${note//\"/}\"" >>"$WORK/results.csv"
	printf '  %-14s rep %d: rc %-3s wall %6ss cpu %5ss rss %7skB wire %8s pps %8s | truth_up,found,tp,recall,fp,extra,un_truth,un_found = %s\n' \
		"$id" "$rep" "$rc" "$wall" "$cpu" "$rss" "$probes" "$pps" "$rest"
	sleep 0.5 # let stragglers drain before the next tool
}

# run_scenario TOOL...: REPS rounds, each running every tool once, order rotated.
run_scenario() {
	local -a tools=("$@")
	local n=${#tools[@]} rep k
	for ((rep = 1; rep <= REPS; rep++)); do
		for ((k = 0; k < n; k++)); do
			run_tool "${tools[$(((k + rep - 1) % n))]}" "$rep"
		done
	done
}

# ---------------------------------------------------------------- kernel lab scenarios
: >"$WORK/empty.conf"

# lab_scenario SCEN LABPREFIX ALIVE
lab_scenario() {
	SCEN=$1
	local prefix=$2 alive=$3 name=${PREFIX_NS}-$1
	echo "== scenario $SCEN: lab $prefix alive=$alive + 203.0.113.0/24"
	LABS+=("$name")
	TRUTH=$WORK/$SCEN-truth.csv
	local t0=$SECONDS
	bash "$ROOT/scripts/lab.sh" up --name "$name" --prefix "$prefix" --alive "$alive" --seed 1 --truth "$TRUTH" | sed 's/^/  /'
	echo "  lab up in $((SECONDS - t0)) s"
	NS=$name-scan
	DEV=veth0
	MAC=$(ip -n "$name-tgt" -br link show veth1 | awk '{print $3}')
	[[ $MAC =~ ^[0-9a-f:]{17}$ ]] || die "no MAC for veth1 in $name-tgt"
	SPECS=("$prefix" 203.0.113.0/24)
	PREFIX=$prefix
	ALLOW=$WORK/$SCEN-allow.txt
	printf '%s\n' "${SPECS[@]}" >"$ALLOW"
	# The lab's truth lists exactly the hosts of both prefixes (no network/broadcast).
	LIST=$WORK/$SCEN-targets.txt
	awk -F, 'NR > 1 { print $1 }' "$TRUTH" >"$LIST"
	local extra=()
	# fping -g fits a /16 (65,534 hosts) but not a /15.
	[[ $prefix == */16 ]] && extra=(sweep-g-r0 fping-g-r0)
	run_scenario sweep-default sweep-max sweep-max-r0 sweep-pnet-r0 fping-r0 fping "${extra[@]}" nmap zmap masscan
	bash "$ROOT/scripts/lab.sh" down --name "$name" >/dev/null
}

# ---------------------------------------------------------------- sim scenario
sim_scenario() {
	SCEN=sim
	if [[ -z $SIM ]]; then
		echo "== scenario sim: skipped (sweep-sim not built)"
		return
	fi
	echo "== scenario sim: sweep-sim 198.18.0.0/18 alive 25%, RTT 50-300 ms, loss 5% each way"
	NS=${PREFIX_NS}-sim
	DEV=sim0
	NETNS+=("$NS")
	ip netns del "$NS" 2>/dev/null || true
	ip netns add "$NS"
	cat >"$WORK/sim-profile.txt" <<-'EOF'
		seed 1
		default rtt=50ms..300ms loss=5%
		198.18.0.0/18 alive=25%
		203.0.113.0/24 unreach=host
	EOF
	TRUTH=$WORK/sim-truth.csv
	local ready=$WORK/sim-ready
	rm -f "$ready"
	local rt=()
	"$SIM" --help | grep -q -- --realtime && rt=(--realtime)
	ip netns exec "$NS" "$SIM" --profile "$WORK/sim-profile.txt" --truth "$TRUTH" \
		--log "$WORK/sim-log.csv" --ready-file "$ready" --duration-limit 900 "${rt[@]}" \
		>"$WORK/sim.out" 2>"$WORK/sim.err" &
	local simpid=$!
	BGPIDS+=("$simpid")
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -e $ready ]] && break
		kill -0 "$simpid" 2>/dev/null || break
		sleep 0.1
	done
	if [[ ! -e $ready ]]; then
		echo "bench.sh: sweep-sim did not come up; sim scenario skipped:" >&2
		cat "$WORK/sim.err" >&2
		return
	fi
	SPECS=(198.18.0.0/18 203.0.113.0/24)
	LIST=$WORK/sim-targets.txt
	# Hosts of both prefixes without network and broadcast, like sweep and fping -g.
	awk -F, 'NR > 1 && $1 != "198.18.0.0" && $1 != "198.18.63.255" && $1 != "203.0.113.0" && $1 != "203.0.113.255" { print $1 }' \
		"$TRUTH" >"$LIST"
	MAC='' ALLOW=''
	run_scenario sweep-default sweep-max sweep-max-r0 fping-r0 fping nmap
	kill "$simpid" 2>/dev/null || true
	wait "$simpid" 2>/dev/null || true
	echo "  sim: $(tail -1 "$WORK/sim.err")"
	ip netns del "$NS"
}

# ---------------------------------------------------------------- scale run
scale_run() {
	SCEN=scale
	echo "== scale: sweep --rate max 127.0.0.0/8 in a fresh namespace (lo only)"
	NS=${PREFIX_NS}-scale
	DEV=lo
	NETNS+=("$NS")
	ip netns del "$NS" 2>/dev/null || true
	ip netns add "$NS"
	ip -n "$NS" link set lo up
	local out=$WORK/scale.err rc=0
	/usr/bin/time -o "$WORK/time" -f "%e %U %S %M" \
		timeout -s INT -k 10 600 ip netns exec "$NS" "$SWEEP" --seed 1 --rate max -o /dev/null 127.0.0.0/8 2>"$out" || rc=$?
	local wall user sys rss cpu probes up
	read -r wall user sys rss < <(grep -E '^[0-9.]+ [0-9.]+ [0-9.]+ [0-9]+$' "$WORK/time" | tail -1)
	cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
	probes=$(grep -oE '[0-9]+ probes in' "$out" | awk '{print $1}' || true)
	up=$(grep -oE '[0-9]+ up' "$out" | head -1 | awk '{print $1}' || true)
	local scan_s
	scan_s=$(grep -oE 'probes in [0-9.]+ s' "$out" | awk '{print $3}' || true)
	local recall
	recall=$(awk -v u="${up:-0}" 'BEGIN { printf "%.5f", u / 16777214 }')
	local note pps_s
	pps_s=$(grep -oE '\([0-9]+ pps\)' "$out" | tr -d '()' || true)
	note="scan phase ${scan_s:-?} s (${pps_s:-? pps}); CSV to /dev/null"
	echo "$(date -u +%FT%TZ),scale,1,sweep-max,\"sweep --seed 1 --rate max -o /dev/null 127.0.0.0/8\",16777214,$rc,$wall,$user,$sys,$cpu,$rss,,${probes},$(awk -v p="${probes:-0}" -v w="$wall" 'BEGIN { printf "%.0f", p / w }'),16777214,${up},${up},$recall,0,0,0,0,\"$note\"" >>"$WORK/results.csv"
	echo "  rc $rc wall ${wall}s cpu ${cpu}s rss ${rss}kB: $(tail -1 "$out")"
	ip netns del "$NS"
}

# ---------------------------------------------------------------- profile
perf_profile() {
	echo "== perf: sweep --rate max on a /16 lab (cpu-clock sampling, call graphs)"
	local name=${PREFIX_NS}-perf
	LABS+=("$name")
	bash "$ROOT/scripts/lab.sh" up --name "$name" --prefix 198.18.0.0/16 --alive 0.25 --seed 1 --truth "$WORK/perf-truth.csv" >/dev/null
	local data=$WORK/perf.data
	# cpu-clock: hardware counters are often unavailable in VMs.
	perf record -q -e cpu-clock -F 4999 -g -o "$data" -- \
		ip netns exec "$name-scan" "$SWEEP" --seed 1 --rate max --all -o "$WORK/perf.csv" 198.18.0.0/16 203.0.113.0/24 2>"$WORK/perf.err" >/dev/null
	{
		echo "# perf record -e cpu-clock -F 4999 -g: sweep --rate max 198.18.0.0/16 203.0.113.0/24 (kernel lab)"
		echo "# $(tail -1 "$WORK/perf.err")"
		echo
		echo "## by thread (sender, receiver, main, CSV workers)"
		perf report -i "$data" --no-children --sort pid --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -10 || true
		echo
		echo "## by DSO"
		perf report -i "$data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -10 || true
		echo
		echo "## top symbols (self)"
		perf report -i "$data" --no-children --sort sym --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -40 || true
		echo
		echo "## top symbols (inclusive, with children)"
		perf report -i "$data" --children --sort sym --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -60 || true
		echo
		echo "## stages (each sample counted once; see stages.py in bench.sh)"
		perf script -i "$data" -F tid,ip,sym 2>/dev/null | python3 "$WORK/stages.py" || true
	} >"$OUTDIR/profile.txt"
	sed -n '/## stages/,$p' "$OUTDIR/profile.txt"
	bash "$ROOT/scripts/lab.sh" down --name "$name" >/dev/null
}

cat >"$WORK/stages.py" <<'PY'
# Splits perf script call stacks (tid line, then frames leaf first) into the
# stages of a kernel-lab scan. Each sample counts once.
import sys, collections

def has(frames, *keys):
    return any(k in f for f in frames for k in keys)

def stage(frames):
    leaf = frames[0] if frames else ""
    # Softirq work run inline (veth delivers in the sender's context): that is the
    # lab's network, i.e. the targets, not sweep.
    if has(frames, "net_rx_action", "process_backlog"):
        if has(frames, "icmp_echo", "icmp_reply"):
            return "lab network (softirq)", "targets build echo replies (icmp_echo)"
        if has(frames, "raw_local_deliver", "raw_rcv", "raw_v4_input", "ping_rcv"):
            return "lab network (softirq)", "replies delivered to sweep's socket"
        if has(frames, "ip_error", "ip_route_input", "fib_table_lookup"):
            return "lab network (softirq)", "target-side routing (blackhole/unreachable lookups)"
        if has(frames, "nft_", "nf_hook", "nf_send_unreach", "icmp_send"):
            return "lab network (softirq)", "netfilter reject / ICMP errors"
        return "lab network (softirq)", "other softirq (veth backlog, skb free, tracing)"
    if has(frames, "__sys_sendmmsg", "__sys_sendto", "__sys_sendmsg"):
        if has(frames, "bpf_", "htab_map", "kprobe", "perf_trace"):
            sub = "tracing hooks of this VM (BPF)"
        elif has(frames, "ip_route_output", "fib_table_lookup"):
            sub = "output route lookup per packet"
        elif has(frames, "__ip_select_ident"):
            sub = "IP ID selection (__ip_select_ident)"
        elif has(frames, "__dev_queue_xmit", "veth_xmit", "dev_hard_start_xmit"):
            sub = "qdisc + veth xmit"
        elif has(frames, "ip_append_data", "__ip_make_skb", "alloc_skb", "ip_push_pending_frames", "ip_output"):
            sub = "skb alloc + copy + IP header"
        elif has(frames, "copy_msghdr", "import_iovec", "copy_from_user"):
            sub = "syscall: msghdr copy-in"
        else:
            sub = "syscall: other (raw_sendmsg, sock, entry)"
        return "send syscall (sweep's probes, without softirq)", sub
    if has(frames, "__sys_recvmmsg", "__sys_recvmsg", "do_recvmmsg"):
        return "receive syscall (recvmmsg)", ""
    if has(frames, "clock_nanosleep", "do_nanosleep", "futex", "do_sys_poll", "sys_ppoll", "schedule", "sched_yield"):
        return "sleep / yield / scheduler", ""
    if "__rust_begin_short_backtrace" in leaf or "{{closure}}" in leaf:
        # Thread bodies with the whole loop inlined: the sending workers.
        return "sweep user space", "sender loop (permutation + probe write + pacing, inlined)"
    if leaf.startswith("sweep::") or "sweep" in leaf or has(frames, "sweep::"):
        for key, name in (("output::", "CSV output"), ("csv::", "CSV output"),
                          ("validate::", "validation"), ("wire::", "validation"),
                          ("table::", "table"), ("receiver::", "receiver loop (validation + table, inlined)"),
                          ("sender::", "sender loop (permutation + probe write + pacing, inlined)")):
            if key in leaf:
                return "sweep user space", name
        if has(frames, "output::", "csv::"):
            return "sweep user space", "CSV output"
        return "sweep user space", "other (" + leaf.split("(")[0][:40] + ")"
    if has(frames, "csv::", "csv_core::", "rayon::", "output::"):
        return "sweep user space", "CSV output"
    if has(frames, "exc_page_fault", "do_exit", "execve", "mmput", "load_elf"):
        return "process start/exit, page faults", ""
    return "other", leaf[:50]

stacks, cur = [], None
for line in sys.stdin:
    line = line.rstrip("\n")
    if not line.strip():
        if cur is not None:
            stacks.append(cur)
        cur = None
        continue
    if not line.startswith("\t"):  # "  TID" header; frames are tab-indented
        if cur is not None:
            stacks.append(cur)
        cur = []
        continue
    parts = line.split(None, 1)
    if cur is not None:
        cur.append(parts[1] if len(parts) > 1 else parts[0])
if cur is not None:
    stacks.append(cur)
top, sub = collections.Counter(), collections.Counter()
for frames in stacks:
    t, s = stage(frames)
    top[t] += 1
    if s:
        sub[(t, s)] += 1
total = sum(top.values()) or 1
print("%7s  %6s  %s" % ("samples", "share", "stage"))
for t, n in top.most_common():
    print("%7d  %5.1f%%  %s" % (n, 100 * n / total, t))
    for (t2, s2), m in [x for x in sub.most_common() if x[0][0] == t][:7]:
        print("%7d  %5.1f%%      %s" % (m, 100 * m / total, s2))
print("%7d  total" % total)
PY

# ---------------------------------------------------------------- main
T0=$SECONDS
lab_scenario lab16 198.18.0.0/16 0.25
((QUICK)) || lab_scenario lab15 198.18.0.0/15 1
sim_scenario
((SCALE)) && scale_run
((PERF)) && perf_profile

# ---------------------------------------------------------------- report
cp "$WORK/results.csv" "$RESULTS"
ver() { "$@" 2>&1 | grep -m1 -E '[0-9]+\.[0-9]+' | sed 's/[|]/\//g' | tr -d '\r' || true; }
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
python3 - "$WORK/machine.json" <<PY
import json, sys
json.dump([
  ["date", "$(date -u '+%Y-%m-%d %H:%M UTC')"],
  ["CPU", "$(nproc) cores, ${cpu_model}"],
  ["memory", "$(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo)"],
  ["kernel", "$(uname -sr)"],
  ["OS", "$(grep -m1 '^PRETTY_NAME=' /etc/os-release | cut -d= -f2 | tr -d '"')"],
  ["sweep", "$(ver "$SWEEP" --version) (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet -- src 2>/dev/null || echo ', src modified'))"],
  ["fping", "$(ver fping -v)"],
  ["nmap", "$(ver nmap --version)"],
  ["zmap", "$(ver zmap --version)"],
  ["masscan", "$(ver masscan --version)"],
  ["rustc", "$(ver rustc --version)"],
  ["repetitions", "$REPS per scenario, tools interleaved (order rotated each repetition)"],
  ["total bench time", "$((SECONDS - T0)) s"],
], open(sys.argv[1], "w"))
PY
cat >"$WORK/notes.md" <<'EOF'
- Every scanner runs inside the scenario's scanner namespace (`ip netns exec`); targets are
  198.18.0.0/15 (RFC 2544), 203.0.113.0/24 (TEST-NET-3) and 127.0.0.0/8 only.
- sweep and fping skip network and broadcast addresses of a prefix (fping gets the same
  list through `-f`); nmap, zmap and masscan probe them too (4 more probes). Answers from
  addresses outside the target list are counted as `extra`, not as false positives
  (in lab15 the whole /15 is `local`, so .0 and .255.255 answer).
- `FP` = a target reported up that the truth says is down or unreachable.
- sweep runs with `--all` so its CSV also carries the unreachable rows, which are
  checked against the truth (`unreach found/truth`); the peers report only live hosts.
- zmap and masscan write Ethernet frames and need the next hop's MAC, so they only
  run on the veth labs, not on sweep-sim's TUN device.
- masscan is kept alive by a 10/s ping to 192.0.2.2 during its run: without any
  incoming packet its receive thread never finishes `--wait` (it counted down to
  -20 s and had to be killed in trials).
- CPU and RSS come from `/usr/bin/time` around `ip netns exec` (which execs the tool).
  In the kernel lab the targets' replies are generated in softirq context, mostly on
  the scanner's own CPU time, so CPU there includes the simulated hosts' work.
EOF
BENCH_NOTES=$WORK/notes.md python_helper report "$RESULTS" "$WORK/machine.json" "$OUTDIR/RESULTS.md"
python_helper plot "$RESULTS" "$OUTDIR/plot.svg"
echo "== wrote $RESULTS, $OUTDIR/RESULTS.md, $OUTDIR/plot.svg in $((SECONDS - T0)) s"
