#!/usr/bin/python3
"""Print the systemd services whose processes still run a file an upgrade replaced (one per line).

After `apt-get dist-upgrade` a service keeps running the old binary or library until it restarts,
and not every package's maintainer script restarts it (Debian's haproxy does not). A replaced file
shows as "(deleted)" in /proc/PID/maps or /proc/PID/exe; /proc/PID/cgroup names the service. This is
the core of what needrestart does, without its dependencies.
"""

import os
import re

UNIT = re.compile(r"/system\.slice/(?:.*/)?([^/]+\.service)$")
SYSTEM_DIRS = ("/usr/", "/lib/", "/bin/", "/sbin/", "/opt/")


def replaced(pid: str) -> bool:
    try:
        if os.readlink(f"/proc/{pid}/exe").endswith(" (deleted)"):
            return True
        with open(f"/proc/{pid}/maps") as maps:
            return any(line.rstrip().endswith(" (deleted)") and line.split(None, 5)[-1].startswith(SYSTEM_DIRS)
                       for line in maps if len(line.split(None, 5)) == 6)
    except OSError:  # the process ended meanwhile, or is a kernel thread
        return False


def unit(pid: str) -> str | None:
    try:
        with open(f"/proc/{pid}/cgroup") as cgroup:
            for line in cgroup:
                found = UNIT.search(line.strip().split(":", 2)[-1])
                if found:
                    return found.group(1)
    except OSError:
        pass
    return None


units = {unit(p) for p in os.listdir("/proc") if p.isdigit() and replaced(p)}
print("\n".join(sorted(u for u in units if u)))
