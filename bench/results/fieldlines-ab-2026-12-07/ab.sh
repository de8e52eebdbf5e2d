#!/bin/bash
# B1 A/B of the field-line walk: the tree of 948e8dc (old) against it with FieldLines (new), in turns.
cd /work/main
for r in 1 2 3 4; do
  for v in old new; do
    CAUSEWAY_PROXY=/tmp/ab-fl/$v/causeway-proxy bash bench/run --scenarios B1 --runs 3 --seconds 8 --peers causeway,haproxy --output /tmp/ab-fl/out/b1-$v-$r > /tmp/ab-fl/out/b1-$v-$r.log 2>&1
    echo "$v $r $(date -u +%H:%M): $(grep -E '^\| B1 ' /tmp/ab-fl/out/b1-$v-$r/results.md | head -2 | tr '\n' ' ')" >> /tmp/ab-fl/out/summary.txt
  done
done
echo done >> /tmp/ab-fl/out/summary.txt
