// relay: listen on lport, connect to dport; relay bytes both ways on one connection pair. mode e=epoll, u=io_uring
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <liburing.h>
static int lst(int port){int s=socket(AF_INET,SOCK_STREAM,0),o=1;setsockopt(s,SOL_SOCKET,SO_REUSEADDR,&o,4);struct sockaddr_in a={.sin_family=AF_INET,.sin_port=htons(port),.sin_addr.s_addr=htonl(0x7f000001)};if(bind(s,(void*)&a,sizeof a)){perror("bind");exit(1);}listen(s,16);return s;}
static int con(int port){int s=socket(AF_INET,SOCK_STREAM,0),o=1;struct sockaddr_in a={.sin_family=AF_INET,.sin_port=htons(port),.sin_addr.s_addr=htonl(0x7f000001)};while(connect(s,(void*)&a,sizeof a)){usleep(10000);close(s);s=socket(AF_INET,SOCK_STREAM,0);}setsockopt(s,IPPROTO_TCP,TCP_NODELAY,&o,4);return s;}
static char buf[2][65536];
int main(int c,char**v){int lp=atoi(v[1]),dp=atoi(v[2]);char m=v[3][0];int l=lst(lp);int d=accept(l,0,0),o=1;setsockopt(d,IPPROTO_TCP,TCP_NODELAY,&o,4);int u=con(dp);
 int fd[2]={d,u};
 if(m=='e'){fcntl(d,F_SETFL,O_NONBLOCK);fcntl(u,F_SETFL,O_NONBLOCK);int ep=epoll_create1(0);for(int i=0;i<2;i++){struct epoll_event e={.events=EPOLLIN|EPOLLET,.data.u32=i};epoll_ctl(ep,EPOLL_CTL_ADD,fd[i],&e);}
  struct epoll_event ev[4];for(;;){int n=epoll_wait(ep,ev,4,-1);for(int k=0;k<n;k++){int i=ev[k].data.u32;for(;;){ssize_t r=recv(fd[i],buf[i],65536,0);if(r==0)return 0;if(r<0){if(errno==EAGAIN)break;return 1;}
   ssize_t w=send(fd[1-i],buf[i],r,0);if(w!=r){fprintf(stderr,"short\n");return 1;} if(r<65536)break; /* short read: drained (like ReadinessSocket) */}}}}
 else{struct io_uring ring;io_uring_queue_init(8,&ring,0);
  for(int i=0;i<2;i++){struct io_uring_sqe*s=io_uring_get_sqe(&ring);io_uring_prep_recv(s,fd[i],buf[i],65536,0);s->user_data=i;}
  io_uring_submit(&ring);
  for(;;){struct io_uring_cqe*cq;int rc=io_uring_submit_and_wait(&ring,1);if(rc<0&&rc!=-EINTR){fprintf(stderr,"enter %d\n",rc);return 1;}
   unsigned head;int seen=0;io_uring_for_each_cqe(&ring,head,cq){seen++;long ud=cq->user_data;int res=cq->res;
    if(ud<2){int i=ud;if(res<=0)return 0; struct io_uring_sqe*s=io_uring_get_sqe(&ring);io_uring_prep_send(s,fd[1-i],buf[i],res,0);s->user_data=10+i;s->flags|=IOSQE_IO_LINK|IOSQE_CQE_SKIP_SUCCESS;
      s=io_uring_get_sqe(&ring);io_uring_prep_recv(s,fd[i],buf[i],65536,0);s->user_data=i;}
    else{fprintf(stderr,"send failed %d\n",res);return 1;}}
   io_uring_cq_advance(&ring,seen);}}
}
