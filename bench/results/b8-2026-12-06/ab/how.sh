#!/bin/bash
# A/B of the control-plane connection's chain build on B8's first push: old (da0d473^) and new in turns
cd /work/main
for round in 1 2 3 4; do
  for v in old new; do
    if [ $v = old ]; then git show da0d473^:src/Causeway.Core/Client/ControlPlaneConnection.cs > src/Causeway.Core/Client/ControlPlaneConnection.cs; else git checkout -q src/Causeway.Core/Client/ControlPlaneConnection.cs; fi
    CAUSEWAY_PROXY=/tmp/s/cur-proxy/causeway-proxy bash bench/run --scenarios B8 --changes 1 --full-pushes 1 --output /tmp/s/b8p/out-ab-$v-$round > /tmp/s/b8p/ab-$v-$round.log 2>&1
  done
done
git checkout -q src/Causeway.Core/Client/ControlPlaneConnection.cs
