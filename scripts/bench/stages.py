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
