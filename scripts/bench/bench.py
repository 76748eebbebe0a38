# Scorer, report and plot writer for scripts/bench.sh (plain python3, no packages).
import csv, html, ipaddress, json, os, re, statistics, sys

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
    if kind == "arp":                  # arp-scan --plain: "A<TAB>MAC<TAB>vendor"
        return read_set(out, lambda l: l.split("\t")[0] if "\t" in l else None), set()
    if kind == "scan6":                # -L: one address a line (and other text)
        def v6(l):
            try:
                return str(ipaddress.IPv6Address(l.split()[0])) if l.split() else None
            except ValueError:
                return None
        return read_set(out, v6), set()
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
    "onlink": "On-link lab: the scanner on the segment of 198.18.0.0/16 (~25% alive): ARP for every target",
    "onlink6": "On-link lab, IPv6: 2001:2:0:1::/116 of the scanner's /64 (~25% alive): neighbour discovery",
    "proxylan": "Office LAN (lanlab.sh): 198.18.0.0/16 with a proxy-ARP router (198.18.128.0/17 behind it, 40 hosts), 24 hosts, a conflict, an 8-address server",
    "lan64": "Office LAN (lanlab.sh), IPv6: the scanner's /64, 24 hosts with random interface IDs (one ignores multicast echo)",
    "policed": "Policed path: 198.18.0.0/16 (~25% alive) behind an nftables policer of 2,000 echo requests/s",
    "lossy": "Lossy path: 198.18.0.0/16 (~25% alive), 30 % of echo replies dropped (nftables numgen)",
    "clean16": "Clean path: 198.18.0.0/16 (~25% alive), sweep's defaults (rounds by yield) vs --retries 2",
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
         "`× sweep` is wall time relative to `sweep --rate max` in the same scenario, or to "
         "sweep's defaults where `--rate max` did not run (above 1 = slower than sweep).", "",
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
    matrix = [sc for sc in scen_order if (sc, "sweep-default") in s and (sc, "sweep-oracle") in s]
    if matrix:
        # The path matrix: sweep's defaults against the best fixed setting in hindsight.
        L.append("## Path matrix: sweep's defaults against each row's oracle")
        L.append("")
        L.append("Goal: wall at most 1.5x the oracle's, recall at least 99.9 % (or the oracle's), no FP.")
        L.append("")
        L.append("| row | oracle | runs | sweep wall s | oracle wall s | sweep / oracle | sweep recall % | oracle recall % | sweep wire probes | oracle wire probes | FP |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for sc in matrix:
            a, o = s[(sc, "sweep-default")], s[(sc, "sweep-oracle")]
            ratio = a["wall"] / o["wall"] if a["wall"] and o["wall"] else None
            words = o["config"].split()
            orc = " ".join(w + " " + v for w, v in zip(words, words[1:]) if w in ("--rate", "--retries"))
            rec = lambda v: "–" if v["recall"] is None else "%.3f" % (v["recall"] * 100)
            L.append("| %s | `%s` | %d | %s | %s | %s | %s | %s | %s | %s | %d |" % (
                sc, orc, a["runs"], fmt(a["wall"]), fmt(o["wall"]), fmt(ratio), rec(a), rec(o),
                fmt(a["probes"], 0), fmt(o["probes"], 0), max(a["fp"], o["fp"])))
        L.append("")
    for sc in scen_order:
        tools = [(t, v) for (c, t), v in s.items() if c == sc]
        ref = (s.get((sc, "sweep-max")) or s.get((sc, "sweep-default"), {})).get("wall")
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
