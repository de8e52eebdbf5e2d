#!/bin/bash
export CAUSEWAY_PROXY=/work/main/bench/Causeway.LoadBench/bin/Release/causeway-proxy/causeway-proxy
out=/tmp/ab-r2r; mkdir -p $out; cd /work/main
for round in 1 2 3; do
  for tree in jit r2r; do
    echo "== $tree round $round $(date +%H:%M:%S)" >> $out/summary.txt
    env DOTNET_SYSTEM_BUFFERS_SHAREDARRAYPOOL_MAXARRAYSPERPARTITION=4096 DOTNET_GCgen0size=0x10000000 \
      taskset -c 1 /tmp/lb-$tree/causeway-loadbench --scenarios B8 --changes 5 --full-pushes 3 --output $out/$tree-$round > $out/$tree-$round.log 2>&1
    echo "rc=$?" >> $out/summary.txt
    grep -E "clients connected|full push" $out/$tree-$round.log >> $out/summary.txt
  done
done
echo done >> $out/summary.txt
