#!/bin/bash
# A/B of B5 (both sides) with secure naming judged after the handshake (5798634, "cur-proxy") and inside it (the
# verify callback, "new-proxy"), in turns; each invocation a fresh testbed, one 8 s run after the warm-up, Causeway only.
#   dotnet publish src/Causeway.ProxyHost -c Release -r linux-x64 -o /tmp/s/cur-proxy   (from 5798634)
#   dotnet publish src/Causeway.ProxyHost -c Release -r linux-x64 -o /tmp/s/new-proxy   (from this tree)
cd "$(dirname "$0")/../../.."
for r in 1 2 3 4; do
  for v in cur-proxy new-proxy; do
    CAUSEWAY_PROXY=/tmp/s/$v/causeway-proxy bash bench/run --scenarios B5 --runs 1 --seconds 8 --peers causeway --output /tmp/ab3/b5-$v-$r > /tmp/ab3/b5-$v-$r.log 2>&1
    echo "$v $r: $(grep -E '^B5' /tmp/ab3/b5-$v-$r.log | tr '\n' ' ')" | tee -a /tmp/ab3/summary.txt
  done
done
