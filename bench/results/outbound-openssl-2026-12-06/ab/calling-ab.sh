#!/bin/bash
# A/B of B5's calling side: causeway-proxy before (2059789, outbound mTLS on SslStream) and after (outbound on OpenSSL)
# in turns; each invocation a fresh testbed, one 8 s run after the warm-up, Causeway only.
#   dotnet publish src/Causeway.ProxyHost -c Release -r linux-x64 -o /tmp/ab2/old   (from 2059789)
#   dotnet publish src/Causeway.ProxyHost -c Release -r linux-x64 -o /tmp/ab2/new   (from this tree)
cd "$(dirname "$0")/../../../.."
out=bench/results/outbound-openssl-2026-12-06/ab
for r in $(seq 1 ${ROUNDS:-5}); do
  for v in old new; do
    CAUSEWAY_PROXY=/tmp/ab2/$v/causeway-proxy bash bench/run --scenarios B5 --runs 1 --seconds 8 --peers causeway --output /tmp/ab2/b5-$v-$r > /tmp/ab2/b5-$v-$r.log 2>&1
    echo "$v $r: $(grep -E '^B5 run' /tmp/ab2/b5-$v-$r.log | tr '\n' ' ')" | tee -a $out/summary.txt
  done
done
