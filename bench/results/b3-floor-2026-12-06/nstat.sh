nstat -n >/dev/null
while true; do echo "T $(date +%s.%N)"; nstat -a TcpOutSegs TcpExtTCPPureAcks TcpExtDelayedACKs TcpExtTCPHPAcks TcpInSegs TcpExtTCPHPHits 2>/dev/null | grep -v "^#"; sleep 2; done
