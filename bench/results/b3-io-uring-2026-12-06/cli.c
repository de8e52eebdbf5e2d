// client: connect to port, send 100-byte request every 1 ms (open loop, single conn: wait for response), count; server mode: answer each read with 1 KiB
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>
int main(int c,char**v){int port=atoi(v[1]);char m=v[2][0];int o=1;struct sockaddr_in a={.sin_family=AF_INET,.sin_port=htons(port),.sin_addr.s_addr=htonl(0x7f000001)};static char b[4096];
 if(m=='s'){int l=socket(AF_INET,SOCK_STREAM,0);setsockopt(l,SOL_SOCKET,SO_REUSEADDR,&o,4);bind(l,(void*)&a,sizeof a);listen(l,4);int s=accept(l,0,0);setsockopt(s,IPPROTO_TCP,TCP_NODELAY,&o,4);
  for(;;){ssize_t r=recv(s,b,4096,0);if(r<=0)return 0;if(send(s,b,1024,0)!=1024)return 1;}}
 int s=-1;for(;;){s=socket(AF_INET,SOCK_STREAM,0);if(!connect(s,(void*)&a,sizeof a))break;close(s);usleep(10000);}setsockopt(s,IPPROTO_TCP,TCP_NODELAY,&o,4);
 int secs=atoi(v[3]);struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);long n=0;long total=secs*1000L;
 for(long i=0;i<total;i++){t.tv_nsec+=1000000;if(t.tv_nsec>=1000000000){t.tv_nsec-=1000000000;t.tv_sec++;}clock_nanosleep(CLOCK_MONOTONIC,TIMER_ABSTIME,&t,0);
  send(s,b,100,0);long got=0;while(got<1024){ssize_t r=recv(s,b,4096,0);if(r<=0){printf("eof\n");return 1;}got+=r;}n++;}
 printf("%ld requests\n",n);return 0;}
