/*
 * delay: hold every packet of one NFQUEUE queue for a fixed time, then
 * accept it. The NAT lab runs one per router namespace, hooked in the raw
 * table's PREROUTING, because this kernel has no `tc netem`.
 *
 * Usage: delay QUEUE_NUM DELAY_MS
 *
 * Prints "ready" on stdout once the queue is bound. Exits when stdin reaches
 * end of file (the lab holds a pipe open), so it cannot outlive the process
 * that started it. Packets keep their order: the delay is constant, so the
 * held packets form a FIFO.
 *
 * Build: gcc -O2 -o delay delay.c -lnetfilter_queue -lnfnetlink
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define HELD_MAX 65536 /* packets in flight; beyond that, accept at once */

struct held {
  uint32_t id;
  struct timespec due;
};

static struct held ring[HELD_MAX];
static size_t head, count;
static struct timespec delay;

static struct timespec add(struct timespec a, struct timespec b) {
  a.tv_sec += b.tv_sec;
  a.tv_nsec += b.tv_nsec;
  if (a.tv_nsec >= 1000000000L) {
    a.tv_sec += 1;
    a.tv_nsec -= 1000000000L;
  }
  return a;
}

static int before(struct timespec a, struct timespec b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg, struct nfq_data *data,
                     void *unused) {
  (void)msg;
  (void)unused;
  struct nfqnl_msg_packet_hdr *hdr = nfq_get_msg_packet_hdr(data);
  if (hdr == NULL) return 0;
  uint32_t id = ntohl(hdr->packet_id);
  if (count == HELD_MAX) return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  ring[(head + count) % HELD_MAX] = (struct held){id, add(now, delay)};
  count += 1;
  return 0;
}

static void release_due(struct nfq_q_handle *qh) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  while (count > 0 && !before(now, ring[head].due)) {
    nfq_set_verdict(qh, ring[head].id, NF_ACCEPT, 0, NULL);
    head = (head + 1) % HELD_MAX;
    count -= 1;
  }
}

static void die(const char *what) {
  fprintf(stderr, "delay: %s: %s\n", what, strerror(errno));
  exit(1);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: delay QUEUE_NUM DELAY_MS\n");
    return 2;
  }
  uint16_t queue = (uint16_t)atoi(argv[1]);
  long ms = atol(argv[2]);
  delay.tv_sec = ms / 1000;
  delay.tv_nsec = (ms % 1000) * 1000000L;

  struct nfq_handle *h = nfq_open();
  if (h == NULL) die("nfq_open");
  struct nfq_q_handle *qh = nfq_create_queue(h, queue, on_packet, NULL);
  if (qh == NULL) die("nfq_create_queue");
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) die("nfq_set_mode");
  nfq_set_queue_maxlen(qh, HELD_MAX);
  nfq_set_queue_flags(qh, NFQA_CFG_F_FAIL_OPEN, NFQA_CFG_F_FAIL_OPEN);
  int fd = nfq_fd(h);
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
  nfnl_rcvbufsiz(nfq_nfnlh(h), 8 << 20);

  printf("ready\n");
  fflush(stdout);

  char buf[65536] __attribute__((aligned));
  struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
  for (;;) {
    struct timespec wait, *timeout = NULL;
    if (count > 0) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      struct timespec due = ring[head].due;
      if (before(now, due)) {
        wait.tv_sec = due.tv_sec - now.tv_sec;
        wait.tv_nsec = due.tv_nsec - now.tv_nsec;
        if (wait.tv_nsec < 0) {
          wait.tv_sec -= 1;
          wait.tv_nsec += 1000000000L;
        }
      } else {
        wait.tv_sec = 0;
        wait.tv_nsec = 0;
      }
      timeout = &wait;
    }
    if (ppoll(fds, 2, timeout, NULL) < 0 && errno != EINTR) die("ppoll");
    if (fds[1].revents != 0) {
      char sink[256];
      if (read(0, sink, sizeof sink) <= 0) break;
    }
    if (fds[0].revents & POLLIN) {
      for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) break;
        nfq_handle_packet(h, buf, (int)n);
      }
    }
    release_due(qh);
  }
  /* Let go of whatever is still held before leaving. */
  while (count > 0) {
    nfq_set_verdict(qh, ring[head].id, NF_ACCEPT, 0, NULL);
    head = (head + 1) % HELD_MAX;
    count -= 1;
  }
  nfq_destroy_queue(qh);
  nfq_close(h);
  return 0;
}
