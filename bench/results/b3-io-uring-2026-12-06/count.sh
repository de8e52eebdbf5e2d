#!/bin/bash
m=$1; base=$((20000 + RANDOM % 10000))
taskset -c 1 ./cli $((base+3)) s & srv=$!
taskset -c 0 ./fwd $((base+2)) $((base+3)) $m & f2=$!
taskset -c 0 ./fwd $((base+1)) $((base+2)) $m & f1=$!
sleep 0.3
taskset -c 1 ./cli $((base+1)) c 10 > /dev/null & cl=$!
sleep 2; perf stat -e raw_syscalls:sys_enter -e context-switches -p $f1 -- sleep 5 2>&1 | grep -E "sys_enter|context"
wait $cl; kill $f1 $f2 $srv 2>/dev/null; wait 2>/dev/null
