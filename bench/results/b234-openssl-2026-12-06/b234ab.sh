#!/bin/bash
cd /work/main
for r in $(seq 1 ${ROUNDS:-3}); do
  for v in old new; do
    CAUSEWAY_PROXY=/tmp/ab/$v/causeway-proxy bash bench/run --scenarios B2,B3,B4 --runs 2 --seconds 8 --peers causeway --output /tmp/ab/b234-$v-$r > /tmp/ab/b234-$v-$r.log 2>&1
    echo "== $v $r"; grep -E "^B[234] run" /tmp/ab/b234-$v-$r.log
  done
done
