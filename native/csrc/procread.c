/*
 * procread: N × (open + read to EOF + close) of one file, each timed; for the bench's procfs-reads case
 * (e2e/bench/run.ts). Built static beside sysbox-nsenter (native/bin/procread): it runs inside busybox
 * containers, bind-mounted read-only.
 *
 *   procread FILE [N=10000] [WARMUP=100] [RATE=0]
 *
 * RATE > 0: at most RATE reads per second, evenly spaced (a paced reader, e.g. a background load); 0: flat out.
 * Prints one line: file=F reads=N bytes=B secs=S rps=R p50_us=... p90_us=... p99_us=... max_us=...
 * (bytes = size of the first timed read-to-EOF). Exits 1 on any open/read error or an empty read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* one open + read-to-EOF + close; returns the bytes read, -1 on error */
static long once(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  long total = 0;
  for (;;) {
    ssize_t n = read(fd, buf, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      close(fd);
      return -1;
    }
    if (n == 0) break;
    total += n;
  }
  if (close(fd) < 0) return -1;
  return total;
}

static double pct(const double *sorted, long n, double q) {
  double pos = (double)(n - 1) * q;
  long lo = (long)pos;
  long hi = lo + 1 < n ? lo + 1 : lo;
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - (double)lo);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE [N] [WARMUP]\n", argv[0]);
    return 2;
  }
  const char *path = argv[1];
  long n = argc > 2 ? strtol(argv[2], NULL, 10) : 10000;
  long warm = argc > 3 ? strtol(argv[3], NULL, 10) : 100;
  double rate = argc > 4 ? strtod(argv[4], NULL) : 0;
  if (n <= 0 || warm < 0 || rate < 0) return 2;
  static char buf[65536];
  double *lat = malloc(sizeof(double) * (size_t)n);
  if (!lat) return 2;
  for (long i = 0; i < warm; i++) {
    errno = 0;
    if (once(path, buf, sizeof buf) <= 0) {
      fprintf(stderr, "procread: %s: %s (warm-up read %ld)\n", path, errno ? strerror(errno) : "empty read", i);
      return 1;
    }
  }
  long first = -1;
  double t0 = now_us();
  for (long i = 0; i < n; i++) {
    if (rate > 0) {
      /* the i-th read starts at t0 + i/rate (no catching up in bursts after a stall: the next slot from now) */
      double due = t0 + (double)i * 1e6 / rate, wait = due - now_us();
      if (wait > 0) {
        struct timespec ts = {(time_t)(wait / 1e6), (long)((wait - (double)(time_t)(wait / 1e6) * 1e6) * 1e3)};
        nanosleep(&ts, NULL);
      }
    }
    double a = now_us();
    errno = 0;
    long got = once(path, buf, sizeof buf);
    lat[i] = now_us() - a;
    if (got <= 0) {
      fprintf(stderr, "procread: %s: %s (read %ld)\n", path, errno ? strerror(errno) : "empty read", i);
      return 1;
    }
    if (first < 0) first = got;
  }
  double secs = (now_us() - t0) / 1e6;
  qsort(lat, (size_t)n, sizeof(double), cmp);
  printf("file=%s reads=%ld bytes=%ld secs=%.4f rps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f\n", path, n,
         first, secs, (double)n / secs, pct(lat, n, 0.5), pct(lat, n, 0.9), pct(lat, n, 0.99), lat[n - 1]);
  free(lat);
  return 0;
}
