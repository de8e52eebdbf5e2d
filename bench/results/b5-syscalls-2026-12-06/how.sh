#!/bin/bash
# usage: b5sys.sh NAME : system calls on CPU 0 during each proxy's B5 turn (6 s inside a 10 s turn)
name=$1
cd /work/main
log=/tmp/s/b5-$name.log
CAUSEWAY_PROXY=/work/main/bench/Causeway.LoadBench/bin/Release/causeway-proxy/causeway-proxy bash bench/run --scenarios B5 --runs 2 --seconds 10 --output /tmp/s/b5-$name > $log 2>&1 &
measure() { while ! grep -q "$1" $log; do sleep 0.2; done; sleep 1.5; perf stat -e 'syscalls:sys_enter_*' -e context-switches -C 0 -- sleep 6 2> /tmp/s/b5-$name-$2.txt; }
measure "B5 run 1 causeway" haproxy
measure "B5 run 1 haproxy" nginx
measure "B5 run 1 nginx" causeway
wait
