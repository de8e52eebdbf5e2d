#!/bin/bash
# usage: b6prof.sh NAME PROXY : perf record -g on CPU 0 during causeway's B6 connection phase
name=$1
cd /work/main
CAUSEWAY_PROXY=$2 bash bench/run --scenarios B6 --runs 1 --seconds 12 --peers causeway,haproxy-splice --output /tmp/s/out-$name > /tmp/s/$name.log 2>&1 &
while ! grep -q "causeway .*Gbit/s over" /tmp/s/$name.log; do sleep 0.3; done
sleep 3
perf record -F 1999 -g -C 0 -o /tmp/s/$name.data -- sleep 6 > /dev/null 2>&1
wait
