#!/bin/bash
# every 2 s: timestamp pid utime+stime(ticks) role
while true; do
  ts=$(date +%s.%N)
  for p in $(pgrep -f "causeway-proxy/causeway-proxy|haproxy -f|nginx: worker"); do
    [ -r /proc/$p/stat ] || continue
    read -r -a s < /proc/$p/stat 2>/dev/null || continue
    args=$(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -o -- "--workload [a-z0-9-]*\|haproxy -f [^ ]*\|nginx: worker.*" | head -1)
    echo "$ts $p $((s[13]+s[14])) $args"
  done
  sleep 2
done
