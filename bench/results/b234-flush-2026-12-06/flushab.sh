#!/bin/bash
cd /work/main
for r in $(seq 1 ${ROUNDS:-3}); do
  for v in base cand; do
    CAUSEWAY_PROXY=/tmp/ab/$v/causeway-proxy bash bench/run --scenarios B2,B3,B4 --runs 2 --seconds 8 --peers causeway --output /tmp/ab/fl-$v-$r > /tmp/ab/fl-$v-$r.log 2>&1
    echo "== $v $r"; grep -E "^B2/B3 run . (direct|causeway)|^B4 run . causeway" /tmp/ab/fl-$v-$r.log | sed 's/, 8000 ok, 0 errors//'
  done
done
