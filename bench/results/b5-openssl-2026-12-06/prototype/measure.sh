#!/bin/bash
# usage: measure.sh MODE PORT
mode=$1; port=$2
taskset -c 0 ./srv/out/srv $mode certs $port > srv-$mode.log 2>&1 &
spid=$!
sleep 0.5
for i in 1 2 3 4 5 6; do taskset -c 1 openssl s_time -connect 127.0.0.1:$port -new -time 17 -www / -cert certs/client.pem -key certs/client.key -CAfile certs/bundle.pem >/dev/null 2>&1 & done
sleep 5
read -r c0 f0 < <(tail -1 srv-$mode.log)
t0=$(awk '{print $14+$15}' /proc/$spid/stat)
sleep 10
read -r c1 f1 < <(tail -1 srv-$mode.log)
t1=$(awk '{print $14+$15}' /proc/$spid/stat)
tck=$(getconf CLK_TCK)
n=$((c1-c0))
echo "$mode conns=$n rate=$((n/10))/s failed=$((f1-f0)) cpu_us_per_conn=$(( (t1-t0)*1000000/tck/ (n>0?n:1) ))"
kill $spid; wait 2>/dev/null
