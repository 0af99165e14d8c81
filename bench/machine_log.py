#!/usr/bin/env python3
"""Log the machine's state once a second until killed, for bench/run.sh.

One line a second: the time of day (UTC); the share of the CPUs' time spent in
user code, the kernel, idle, waiting for I/O, and taken by the hypervisor
(steal) over that second; the free memory, the page cache, and the dirty and
in-writeback page-cache bytes, in MiB. vmstat shows the CPU shares too, but the
procps-ng 4.0 of this machine never refreshes its memory columns.
"""

import sys
import time


def cpu_ticks():
    with open("/proc/stat") as f:
        fields = f.readline().split()
    # cpu user nice system idle iowait irq softirq steal ...
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, fields[1:9])
    return user + nice, system + irq + softirq, idle, iowait, steal


def memory_mib():
    wanted = {"MemFree": 0, "Cached": 0, "Dirty": 0, "Writeback": 0}
    with open("/proc/meminfo") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in wanted:
                wanted[name] = int(rest.split()[0]) // 1024
    return wanted


def main():
    out = sys.stdout
    out.write("utc\tuser%\tkernel%\tidle%\tiowait%\tsteal%\tfree_mib\tcache_mib\tdirty_mib\twriteback_mib\n")
    before = cpu_ticks()
    while True:
        time.sleep(1)
        now = cpu_ticks()
        delta = [b - a for a, b in zip(before, now)]
        total = sum(delta) or 1
        before = now
        mem = memory_mib()
        shares = "\t".join(f"{100 * d / total:.0f}" for d in delta)
        stamp = time.strftime("%H:%M:%S", time.gmtime())
        out.write(
            f"{stamp}\t{shares}\t{mem['MemFree']}\t{mem['Cached']}\t{mem['Dirty']}\t{mem['Writeback']}\n"
        )
        out.flush()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
