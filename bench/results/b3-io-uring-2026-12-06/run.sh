#!/bin/bash
# run.sh MODE SECS -> prints CPU µs per request for each forwarder
m=$1; secs=${2:-20}; base=$((20000 + RANDOM % 10000))
taskset -c 1 ./cli $((base+3)) s & srv=$!
taskset -c 0 ./fwd $((base+2)) $((base+3)) $m & f2=$!
taskset -c 0 ./fwd $((base+1)) $((base+2)) $m & f1=$!
sleep 0.3
cpu(){ awk '{print $14+$15}' /proc/$1/stat; }
taskset -c 1 ./cli $((base+1)) c $secs > /tmp/uring/cli.out & cl=$!
sleep 3; a1=$(cpu $f1); a2=$(cpu $f2); t0=$(date +%s.%N)
sleep $((secs-6)); b1=$(cpu $f1); b2=$(cpu $f2); t1=$(date +%s.%N)
wait $cl; cat /tmp/uring/cli.out
tck=$(getconf CLK_TCK)
python3 -c "d=$t1-$t0; print('$m fwd1 %.1f us/req  fwd2 %.1f us/req' % (($b1-$a1)/$tck/d/1000*1e6, ($b2-$a2)/$tck/d/1000*1e6))"
kill $f1 $f2 $srv 2>/dev/null; wait 2>/dev/null
