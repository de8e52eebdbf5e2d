#!/bin/bash
# usage: measure.sh MODE PORT   (client MODE on CPU 0; the OpenSSL server of ../../b5-openssl-2026-12-06/prototype, published to srv/out, on CPU 1)
mode=$1; port=$2
taskset -c 1 ./srv/out/srv openssl certs $port > srv-$mode.log 2>&1 &
spid=$!
sleep 0.5
taskset -c 0 ./cli/out/cli $mode certs $port 6 > cli-$mode.log 2>&1 &
cpid=$!
sleep 5
read -r c0 f0 < <(tail -1 cli-$mode.log)
t0=$(awk '{print $14+$15}' /proc/$cpid/stat)
sleep 10
read -r c1 f1 < <(tail -1 cli-$mode.log)
t1=$(awk '{print $14+$15}' /proc/$cpid/stat)
tck=$(getconf CLK_TCK)
n=$((c1-c0))
echo "$mode conns=$n rate=$((n/10))/s failed=$((f1-f0)) client_cpu_us_per_conn=$(( (t1-t0)*1000000/tck/ (n>0?n:1) ))"
kill $cpid $spid; wait 2>/dev/null
