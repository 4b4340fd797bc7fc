"""Benchmark: the whole `generate` against a bare baseline, at several sizes.

    python benchmarks/bench.py                 # 1,000, 10,000 and 100,000 users
    python benchmarks/bench.py --sizes 1000,10000

For each size it writes a synthetic roster (defaults, profiles, per-user
overrides, custom office hours, BLFs, one or two phones per user, generated
secrets) and runs, each in a fresh process:

  tool      portsip-roster generate ROSTER -o OUT (load, validate, resolve,
            secrets, check, render, write);
  baseline  the same YAML loaded with PyYAML's C loader and each user's own
            fields written with csv and json: no merge, no checks, no templates.

It prints seconds, users per second, peak memory (max RSS) and the ratios;
each figure is the best of --repeat runs (default 3), since a shared machine
only ever adds time. It only prints figures; it never fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = "benchmark-key-not-a-secret"
COLUMNS = ["name", "enabled", "password", "extension_number", "extension_password", "email", "display_name",
           "office_hours", "voicemail_pin", "online_no_answer_forward_rule", "blfs", "role", "phones"]

HEAD = """\
pbx_version: v22
defaults:
  email: "{{ name }}@example.com"
  password: {generate: true}
  extension_password: {generate: true}
  voicemail_pin: {generate: true}
  voicemail_prompt: en-US
  office_hours: {weekdays: "08:30-12:30, 13:30-17:30", friday: "08:30-13:00", weekend: closed}
  online_no_answer_forward_rule: {action: FORWARD_TO_VOICEMAIL, timeout: 25}
  online_busy_forward_rule: voicemail
  phone_defaults:
    timezone: "GMT-5:00 US Eastern Time, New York"
    interface: PRIVATE_IPV4
    password: {generate: true}
phone_models:
  SIP-T32G: {vendor: Yealink, filename: yealinkT3x.ph.xml}
  V62 Pro: {vendor: Fanvil, filename: fanvil.ph.xml, rps: true, backlight: 30 seconds}
profiles:
  sales: {role: QueueManager, sms: ALLOW_WITH_SENDER_ID, enable_audio_recording: true}
  support: {enable_dnd: false, offline_office_hours_forward_rule: voicemail}
  night: {office_hours: {weekdays: "18:00-23:30", weekend: "10:00-14:00"}}
users:
"""


def synthetic_roster(count: int) -> str:
    """A roster of `count` users; extensions 100000..; the same text every time."""
    parts = [HEAD]
    for i in range(count):
        ext = 100000 + i
        mac = f"{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}"
        lines = [
            f"  - name: user{i}",
            f"    display_name: User Number{i}",
            f'    extension_number: "{ext}"',
            f"    profiles: [{('sales', 'support', 'night')[i % 3]}]",
            "    phones:",
            f'      - {{mac: "0c:38:3e:{mac}", model: SIP-T32G}}',
        ]
        if i % 2:
            lines.append(f'      - {{mac: "cc:5e:f8:{mac}", model: V62 Pro, transfer: ATTENDED}}')
        if i % 5 == 0:
            lines.append(f'    blfs: ["{100000 + (i + 1) % count}", "{100000 + (i + 2) % count}"]')
        if i % 7 == 0:
            lines.append('    office_hours: {monday: "07:00-15:00", friday: closed}')
        if i % 11 == 0:
            lines.append(f'    offline_non_office_hours_forward_rule: "+1555{i:07d}"')
        parts.append("\n".join(lines) + "\n")
    return "".join(parts)


# ---- the two runs, each in its own process ------------------------------------------

def run_tool(roster: Path, out: Path) -> None:
    from generator.cli import app

    try:
        app(["generate", str(roster), "-o", str(out)], prog_name="portsip-roster")
    except SystemExit as exc:
        if exc.code:
            raise


def _cell(value) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)


def run_baseline(roster: Path, out: Path) -> None:
    import csv

    import yaml

    data = yaml.load(roster.read_text("utf-8"), Loader=yaml.CSafeLoader)
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(COLUMNS)
        for user in data["users"]:
            writer.writerow([_cell(user.get(c)) for c in COLUMNS])


def child(kind: str, roster: Path, out: Path) -> None:
    import resource

    start = time.perf_counter()
    (run_tool if kind == "tool" else run_baseline)(roster, out)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"seconds": seconds, "peak_mb": peak}))


def measure(kind: str, roster: Path, out: Path) -> dict:
    env = {**os.environ, "PORTSIP_ROSTER_KEY": KEY, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, __file__, "--child", kind, str(roster), str(out)],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"{kind} run failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def best(runs) -> dict:
    runs = list(runs)
    return {"seconds": min(r["seconds"] for r in runs), "peak_mb": min(r["peak_mb"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated user counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best is shown")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "ROSTER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, roster, out = args.child
        child(kind, Path(roster), Path(out))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'users':>8} {'tool s':>8} {'users/s':>9} {'tool MB':>8} {'base s':>8} {'base MB':>8} "
          f"{'time x':>7} {'mem x':>6}")
    times = {}
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            roster = Path(folder) / f"roster-{size}.yaml"
            roster.write_text(synthetic_roster(size), encoding="utf-8")
            tool = best(measure("tool", roster, Path(folder) / "tool.csv") for _ in range(args.repeat))
            base = best(measure("baseline", roster, Path(folder) / "base.csv") for _ in range(args.repeat))
            times[size] = tool["seconds"]
            print(f"{size:>8} {tool['seconds']:>8.2f} {size / tool['seconds']:>9.0f} {tool['peak_mb']:>8.0f} "
                  f"{base['seconds']:>8.2f} {base['peak_mb']:>8.0f} {tool['seconds'] / base['seconds']:>7.2f} "
                  f"{tool['peak_mb'] / base['peak_mb']:>6.2f}", flush=True)
    for small, big in zip(sizes, sizes[1:]):
        print(f"growth {small} -> {big} users: time x{times[big] / times[small]:.1f} "
              f"(linear would be x{big / small:.0f})")


if __name__ == "__main__":
    main()
