#!/bin/bash
cd /work/main
for r in 1 2; do
  for v in old new; do
    CAUSEWAY_PROXY=/tmp/ab2/$v/causeway-proxy bash bench/run --scenarios B1 --runs 3 --seconds 8 --peers causeway,haproxy --output /tmp/ab3/b1-$v-$r > /tmp/ab3/b1-$v-$r.log 2>&1
    echo "$v $r: $(grep -E '^\| (causeway|haproxy) ' /tmp/ab3/b1-$v-$r/results.md | head -2 | tr '\n' ' ')" >> /tmp/ab3/summary.txt
  done
done
