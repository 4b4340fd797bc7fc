"""Benchmark: `apply` and `plan` of a synthetic roster against the fake PBX
of the tests, with latency added to every request and PortSIP's rate limit
held (10,000 requests in any rolling minute, as from v22.1.7).

    python benchmarks/sync.py                      # 1,000 users, 20 ms a request
    python benchmarks/sync.py --users 5000
    python benchmarks/sync.py --users 300 --latency 0.05 --limit 5000

For each command it prints the seconds, the requests made, the 429s the
limit answered, the floor (the larger of latency x requests / parallel
requests and requests / the PBX's limit or --rate), and the command's peak
memory (RSS). Each command starts with a fresh window of the limit. It only
prints figures; it never fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "benchmarks")]

from bench import synthetic_roster  # noqa: E402
from fakepbx import ACCOUNT, FakeServer  # noqa: E402

KEY = "benchmark-key-not-for-real-use"


def run(command: str, roster: Path, pbx: FakeServer, options, log: Path, out: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one command run as an admin runs it."""
    env = {**os.environ, "PORTSIP_ROSTER_KEY": KEY, "PORTSIP_PASSWORD": ACCOUNT["password"], "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "generator", command, str(roster), "--pbx", pbx.url, "--allow-http",
            "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"], "--parallel", str(options.parallel),
            "--log", str(log)] + (["--rate", str(options.rate)] if options.rate else []) \
        + (["--yes"] if command == "apply" else [])
    peak = out.with_suffix(".peak")
    started = time.perf_counter()
    with out.open("w") as output:
        child = subprocess.Popen([sys.executable, "-c", MEASURE, str(peak), *args], stdout=output,
                                 stderr=subprocess.STDOUT, env=env)
        status = child.wait()
    seconds = time.perf_counter() - started
    if status != 0:
        sys.exit(f"{command} failed:\n{out.read_text()[-2000:]}")
    return seconds, int(peak.read_text()) / 1024


# A process's peak RSS (ru_maxrss) counts the RSS of the process it was forked from (Linux keeps the
# larger at exec): a command started from this one, which holds the fake PBX and every request it
# answered, would show this process's size, not its own. So each command is started from a small
# process of its own, which writes the command's peak (KB) to the file it is given.
MEASURE = ("import os, subprocess, sys\n"
           "child = subprocess.Popen(sys.argv[2:])\n"
           "_, status, usage = os.wait4(child.pid, 0)\n"
           "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
           "sys.exit(os.waitstatus_to_exitcode(status))\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every request")
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--rate", type=float, default=0.0, help="--rate to pass (default: the tool's own)")
    parser.add_argument("--limit", type=int, default=10_000, help="requests the PBX allows a minute")
    parser.add_argument("--commands", default="apply,plan")
    options = parser.parse_args()
    allowed = options.limit / 60 if not options.rate else min(options.limit / 60, options.rate)
    with tempfile.TemporaryDirectory() as folder, FakeServer() as pbx:
        roster = Path(folder) / "roster.yaml"
        text = synthetic_roster(options.users)
        roster.write_text("\n".join(line for line in text.splitlines() if "online_busy_forward_rule" not in line))
        pbx.state.latency = options.latency
        pbx.state.rate_limit = (options.limit, 60.0)
        print(f"{options.users:,} users, {options.latency * 1000:.0f} ms a request, {options.parallel} at once, "
              f"the PBX allows {options.limit:,} a minute" + (f", --rate {options.rate:g}" if options.rate else "")
              + f"; load average {os.getloadavg()[0]:.1f}")
        print(f"{'command':<10}{'seconds':>10}{'requests':>10}{'429s':>7}{'floor s':>10}{'x floor':>9}{'peak MB':>9}")
        for command in options.commands.split(","):
            log = Path(folder) / f"{command}.log"
            pbx.state.started.clear()
            limited = pbx.state.limited
            seconds, peak = run(command, roster, pbx, options, log, Path(folder) / f"{command}.out")
            requests = len(log.read_text().splitlines())
            floor = max(options.latency * requests / options.parallel, requests / allowed)
            print(f"{command:<10}{seconds:>10.1f}{requests:>10,}{pbx.state.limited - limited:>7}{floor:>10.1f}"
                  f"{seconds / floor:>9.2f}{peak:>9.0f}")
        print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
