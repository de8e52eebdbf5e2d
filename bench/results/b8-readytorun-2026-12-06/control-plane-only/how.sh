#!/bin/bash
export CAUSEWAY_PROXY=/work/main/bench/Causeway.LoadBench/bin/Release/causeway-proxy/causeway-proxy
out=/tmp/ab-cp; mkdir -p $out; cd /work/main
# the first run publishes causeway (ReadyToRun) through bench/run itself
for round in 1 2 3; do
  for tree in r2r jit; do
    echo "== $tree round $round $(date +%H:%M:%S)" >> $out/summary.txt
    if [ $tree = jit ]; then
      CAUSEWAY_CONTROL_PLANE= bash bench/run --scenarios B8 --changes 5 --full-pushes 3 --output $out/$tree-$round > $out/$tree-$round.log 2>&1
    else
      bash bench/run --scenarios B8 --changes 5 --full-pushes 3 --output $out/$tree-$round > $out/$tree-$round.log 2>&1
    fi
    echo "rc=$?" >> $out/summary.txt
    head -1 $out/$tree-$round/results.md >> $out/summary.txt
    grep -E "clients connected" $out/$tree-$round.log >> $out/summary.txt
  done
done
echo done >> $out/summary.txt
