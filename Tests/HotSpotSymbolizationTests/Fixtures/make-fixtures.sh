#!/usr/bin/env bash
# Regenerates methods-jdk17.json: real method records copied from a running JVM (see
# dump_methods.py) with, for each, javap's LineNumberTable of that method as the truth the
# decoder's test compares with. Run as root from anywhere; needs the JDK in JDK.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
JDK=${JDK:-/usr/lib/jvm/java-17-openjdk-amd64}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

"$JDK/bin/javac" -g -d "$work" "$here/Spin.java"
"$JDK/bin/java" -cp "$work" tandem.fixture.Spin 3000 > "$work/out" &
pid=$!
# The workload prints "ready" once its methods have run hot for 3 s (compiled by then).
for _ in $(seq 100); do grep -q ready "$work/out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/out"
python3 "$here/dump_methods.py" "$pid" tandem/fixture/ > "$work/methods.json"
"$JDK/bin/javap" -p -l -cp "$work" tandem.fixture.Spin 'tandem.fixture.Spin$Nested' > "$work/javap.txt"
python3 - "$work/methods.json" "$work/javap.txt" > "$here/methods-jdk17.json" <<'PY'
import json, re, sys
methods = json.load(open(sys.argv[1]))
tables, current, cls = {}, None, None
for line in open(sys.argv[2]):
    if m := re.match(r"^(?:public |final |static |private |abstract )*class (\S+)", line.strip()):
        cls = m.group(1)
    elif m := re.match(r"^\s+(?:[\w.$<>\[\]]+ )*([\w$.]+)\(.*\)[^(]*;$", line):
        name = m.group(1).split(".")[-1]
        # javap names a constructor after its class; the JVM calls it <init>.
        current = (cls, "<init>" if cls.endswith(name) else name); tables[current] = []
    elif m := re.match(r"^\s+line (\d+): (\d+)$", line):
        tables[current].append([int(m.group(2)), int(m.group(1))])
methods["javap"] = [{"class": c, "method": n, "bciLines": t} for (c, n), t in sorted(tables.items())]
json.dump(methods, sys.stdout, indent=1)
PY
echo "make-fixtures: wrote $here/methods-jdk17.json" >&2
