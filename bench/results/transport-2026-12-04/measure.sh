#!/bin/bash
# measure.sh NAME PORT PID : wrk 1 thread 64 conns 8 s on CPU 1; proxy cpu from /proc
name=$1; port=$2; pid=$3; URL=${4:-http://127.0.0.1:$port/}; HOSTH=${5:-}
taskset -c 1 wrk -t1 -c64 -d3s ${HOSTH:+-H "Host: $HOSTH"} $URL > /dev/null  # warm-up
c0=$(awk '{print $14+$15}' /proc/$pid/stat)
out=$(taskset -c 1 wrk -t1 -c64 -d8s ${HOSTH:+-H "Host: $HOSTH"} $URL)
c1=$(awk '{print $14+$15}' /proc/$pid/stat)
rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
cpu=$(echo "($c1-$c0)/100" | bc -l)
echo "$name rps=$rps cpu=$(printf %.2f $cpu) per_cpu_s=$(echo "$rps*8/$cpu" | bc -l | cut -d. -f1) $(echo "$out" | grep -i 'non-2xx\|errors' | tr '\n' ' ')"
