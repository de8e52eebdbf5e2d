#!/bin/bash
# A/B of B5: old and new causeway-proxy in turns
cd /work/main
for r in $(seq 1 ${ROUNDS:-3}); do
  for v in old new; do
    CAUSEWAY_PROXY=/tmp/ab/$v/causeway-proxy bash bench/run --scenarios B5 --runs ${RUNS:-2} --seconds 8 --peers causeway,nginx --output /tmp/ab/b5-$v-$r > /tmp/ab/b5-$v-$r.log 2>&1
    echo "$v $r: $(grep -E '^B5 run' /tmp/ab/b5-$v-$r.log | tr '\n' ' ')"
  done
done
