#!/bin/bash
# usage: b6sys.sh NAME PROXY : syscalls per connection of causeway's gateway and haproxy-splice in B6's connection phase
name=$1
cd /work/main
CAUSEWAY_PROXY=$2 bash bench/run --scenarios B6 --runs 1 --seconds 12 --peers causeway,haproxy-splice --output /tmp/s/out-$name > /tmp/s/$name.log 2>&1 &
while ! grep -q "causeway .*Gbit/s over" /tmp/s/$name.log; do sleep 0.3; done
sleep 3

perf stat -e 'syscalls:sys_enter_*' -C 0 -- sleep 5 2> /tmp/s/stat-$name-causeway.txt
while ! grep -q "haproxy-splice .*Gbit/s over" /tmp/s/$name.log; do sleep 0.3; done
sleep 3

perf stat -e 'syscalls:sys_enter_*' -C 0 -- sleep 5 2> /tmp/s/stat-$name-haproxy.txt
wait
