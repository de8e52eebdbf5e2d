#!/bin/bash
# samples TCP connection openings every second
nstat -n >/dev/null
while true; do echo "T $(date +%H:%M:%S) $(nstat -a TcpActiveOpens TcpPassiveOpens 2>/dev/null | grep -v '^#' | awk '{printf "%s=%s ", $1, $2}')"; sleep 1; done
