#!/bin/bash
# sys.sh NAME PID URL [HOST]: syscalls per request during 6 s of wrk
name=$1; pid=$2; URL=$3; HOSTH=${4:-}
(taskset -c 1 wrk -t1 -c64 -d10s ${HOSTH:+-H "Host: $HOSTH"} $URL > /tmp/proto/wrk-$name.out &)
sleep 2
perf stat -e 'syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_poll,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_readv,syscalls:sys_enter_writev,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvmsg,syscalls:sys_enter_read,syscalls:sys_enter_write' -p $pid -x, -o /tmp/proto/stat-$name.csv -- sleep 6
sleep 3
rps=$(awk '/Requests\/sec/{print $2}' /tmp/proto/wrk-$name.out)
reqs=$(echo "$rps*6" | bc)
awk -F, -v r=$reqs -v n=$name '{split($3,a,":"); printf "%s %s %.2f/req\n", n, a[2], $1/r}' /tmp/proto/stat-$name.csv | grep -v " 0.00/req"
