#!/usr/bin/env bash
# Inventory benchmark: `parc-agent inventory --format json` against FusionInventory's
# `fusioninventory-inventory` on this host, interleaved in the same run (absolute times are
# noisy on shared machines: read the ratios). Prints a markdown table.
#
#   bench/inventory.sh            # 5 measured runs each, after one warm-up run each
#   RUNS=10 bench/inventory.sh
#
# Installs fusioninventory-agent, time and hyperfine with apt-get when they are missing
# (needs root). Sends no packets: both tools only read local files.
set -euo pipefail

RUNS=${RUNS:-5}
cd "$(dirname "$0")/.."

if [ "$RUNS" -lt 5 ]; then
    echo "RUNS must be at least 5" >&2
    exit 2
fi

apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing $*: install it, or run this script as root" >&2
        return 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}
command -v fusioninventory-inventory >/dev/null || apt_install fusioninventory-agent
[ -x /usr/bin/time ] || apt_install time
command -v hyperfine >/dev/null || apt_install hyperfine || echo "hyperfine unavailable: /usr/bin/time only" >&2
command -v python3 >/dev/null || { echo "python3 is needed for the statistics" >&2; exit 1; }

cargo build --release -q -p parc-agent --bin parc-agent --example inventory_bench

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

parc=(target/release/parc-agent --state-dir "$work/state" inventory --format json)
if ! "${parc[@]}" >"$work/parc.json" 2>"$work/parc.err"; then
    echo "parc-agent inventory failed ($(head -c 300 "$work/parc.err")); measuring the example instead" >&2
    parc=(target/release/examples/inventory_bench)
    "${parc[@]}" >"$work/parc.json"
fi
fi_cmd=(fusioninventory-inventory)
"${fi_cmd[@]}" >"$work/fi.xml" 2>/dev/null

measure() { # name run command...
    local name=$1 run=$2
    shift 2
    /usr/bin/time -v -o "$work/$name.$run.time" "$@" >/dev/null 2>>"$work/$name.stderr"
}
# Run 0 is the warm-up (page cache, Perl modules); it is not counted.
for run in $(seq 0 "$RUNS"); do
    measure parc "$run" "${parc[@]}"
    measure fi "$run" "${fi_cmd[@]}"
done

# /usr/bin/time rounds wall time to 10 ms, too coarse for Parc: hyperfine gives the times.
if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$work/hyperfine.json" \
        -n parc "${parc[*]}" -n fusioninventory "${fi_cmd[*]}" >/dev/null 2>&1
fi

python3 - "$work" "$RUNS" "${parc[*]}" "${fi_cmd[*]}" <<'PY'
import json, re, statistics, sys, xml.etree.ElementTree as ET
from pathlib import Path

work, runs, parc_cmd, fi_cmd = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]

def seconds(text):
    parts = [float(p) for p in text.split(":")]
    total = 0.0
    for p in parts:
        total = total * 60 + p
    return total

def runs_of(name):
    rows = []
    for run in range(1, runs + 1):
        t = (work / f"{name}.{run}.time").read_text()
        field = lambda label: re.search(rf"{re.escape(label)}: (.+)", t).group(1).strip()
        if field("Exit status") != "0":
            sys.exit(f"{name} run {run} failed: exit status {field('Exit status')}")
        rows.append({
            "wall": seconds(field("Elapsed (wall clock) time (h:mm:ss or m:ss)")),
            "cpu": float(field("User time (seconds)")) + float(field("System time (seconds)")),
            "rss": int(field("Maximum resident set size (kbytes)")) / 1024,
        })
    return rows

def summary(rows, key):
    values = [v for r in rows if key in r for v in (r[key] if isinstance(r[key], list) else [r[key]])]
    return statistics.median(values), min(values), max(values)

parc, fi = runs_of("parc"), runs_of("fi")
hf = work / "hyperfine.json"
if hf.exists():
    results = {r["command"]: r for r in json.loads(hf.read_text())["results"]}
    for rows, name in [(parc, "parc"), (fi, "fusioninventory")]:
        times = results[name]["times"]
        rows.append({"hf_wall": times, "hf_cpu": [results[name]["user"] + results[name]["system"]]})

doc = json.loads((work / "parc.json").read_text())
inv = doc.get("body", doc)  # the CLI prints a Document, the example the bare Inventory
parc_counts = {
    "software": len(inv["software"]),
    "interfaces": len(inv["network"]["interfaces"]),
    "users": len(inv["users"]["local"]),
    "groups": len(inv["users"]["groups"]),
    "filesystems": len(inv["filesystems"]),
}
root = ET.parse(work / "fi.xml").getroot()
content = root.find("CONTENT")
fi_counts = {
    "software": len(content.findall("SOFTWARES")),
    # FI writes one NETWORKS entry per address: count the interfaces they name.
    # ("tn-root@if6" is FI's name for the IPv6 half of the veth "tn-root").
    "interfaces": len({(n.findtext("DESCRIPTION") or "").split("@")[0] for n in content.findall("NETWORKS")}),
    "users": len(content.findall("LOCAL_USERS")),
    "groups": len(content.findall("LOCAL_GROUPS")),
    "filesystems": len(content.findall("DRIVES")),
}

print(f"Runs: {runs} per tool and method, after one warm-up each; /usr/bin/time -v runs interleaved.")
print(f"Parc: `{parc_cmd}`  FI: `{fi_cmd}`\n")
print("| metric | Parc median (min–max) | FI median (min–max) | Parc/FI |")
print("|---|---|---|---|")
metrics = [("wall", "wall time (/usr/bin/time, 10 ms steps)", "s", "{:.2f}"), ("cpu", "CPU user+sys (/usr/bin/time)", "s", "{:.2f}"), ("rss", "peak RSS (/usr/bin/time)", "MB", "{:.1f}")]
if hf.exists():
    metrics[:0] = [("hf_wall", "wall time (hyperfine)", "s", "{:.4f}"), ("hf_cpu", "CPU user+sys, mean (hyperfine)", "s", "{:.4f}")]
for key, label, unit, fmt in metrics:
    p, f = summary(parc, key), summary(fi, key)
    cell = lambda s: f"{fmt.format(s[0])} {unit} ({fmt.format(s[1])}–{fmt.format(s[2])})"
    ratio = p[0] / f[0] if f[0] else float("nan")
    print(f"| {label} | {cell(p)} | {cell(f)} | **{ratio:.3f}×** |")
for key in parc_counts:
    print(f"| {key} (count) | {parc_counts[key]} | {fi_counts[key]} | |")
PY
