"""Benchmark: `apply` and `plan` of a synthetic roster against the fake PBX
of the tests, with latency added to every request.

    python benchmarks/sync.py                      # 1,000 users, 20 ms a request
    python benchmarks/sync.py --users 300 --latency 0.05

For each command it prints the seconds, the requests made, and the floor:
the larger of latency x requests / parallel requests and requests / rate
cap. It only prints figures; it never fails.
"""

from __future__ import annotations

import argparse
import os
import resource
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


def run(command: str, roster: Path, pbx: FakeServer, parallel: int, rate: float, log: Path) -> float:
    env = {**os.environ, "PORTSIP_ROSTER_KEY": KEY, "PORTSIP_PASSWORD": ACCOUNT["password"], "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "generator", command, str(roster), "--pbx", pbx.url, "--allow-http",
            "--username", ACCOUNT["username"], "--domain", ACCOUNT["domain"], "--parallel", str(parallel),
            "--rate", str(rate),
            "--log", str(log)] + (["--yes"] if command == "apply" else [])
    started = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{command} failed:\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every request")
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--rate", type=float, default=60.0)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, FakeServer() as pbx:
        roster = Path(folder) / "roster.yaml"
        text = synthetic_roster(options.users)
        roster.write_text("\n".join(line for line in text.splitlines() if "online_busy_forward_rule" not in line))
        pbx.state.latency = options.latency
        print(f"{options.users:,} users, {options.latency * 1000:.0f} ms a request, {options.parallel} at once, "
              f"at most {options.rate:g} a second")
        print(f"{'command':<10}{'seconds':>10}{'requests':>10}{'floor s':>10}{'x floor':>9}{'peak MB':>9}")
        for command in ("apply", "plan"):
            log = Path(folder) / f"{command}.log"
            seconds = run(command, roster, pbx, options.parallel, options.rate, log)
            requests = len(log.read_text().splitlines())
            floor = max(options.latency * requests / options.parallel, requests / options.rate)
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"{command:<10}{seconds:>10.1f}{requests:>10,}{floor:>10.1f}{seconds / floor:>9.2f}{peak:>9.0f}")


if __name__ == "__main__":
    main()
