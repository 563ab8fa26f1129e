/* tandem's demo and test workload: burns CPU in places whose share is known,
 * so that a profile of it can be checked against the truth.
 *
 *   tandem-demo cpu SECONDS     50% in spin_main_hash, 20% in spin_main_sort
 *                               (this binary), 30% in demo_library_checksum
 *                               (libtandemdemo.so), by thread CPU time
 *   tandem-demo tcp SECONDS     TCP over loopback: one thread sends, one receives
 *   tandem-demo pipe SECONDS    a pipe: one thread writes, one reads
 *   tandem-demo fsync SECONDS   4 KiB writes to a file, each followed by fsync
 *   tandem-demo futex SECONDS   two threads handing a token over a condition variable
 *   tandem-demo mixed SECONDS   all of the above at once (the run command's demo)
 *
 * Build with -fno-omit-frame-pointer so that frame-pointer unwinding works.
 *
 * Each spin function reads its thread's CPU clock only every ~0.1-0.5 ms: that
 * read is a real system call (the vDSO cannot serve CPU-time clocks), and a
 * sample taken inside it loses the spinning function's frame (libc's
 * clock_gettime keeps no frame pointer), so frequent reads would move CPU time
 * out of the functions whose share is the known truth. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

uint64_t demo_library_checksum(double ms);

static double seconds_to_run;
static double started;

static double now_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

static int time_left(void) { return now_seconds() - started < seconds_to_run; }

static double thread_cpu_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return now.tv_sec * 1e3 + now.tv_nsec / 1e6;
}

__attribute__((noinline)) uint64_t spin_main_hash(double ms) {
    volatile uint64_t hash = 1469598103934665603ULL;
    double end = thread_cpu_ms() + ms;
    do {
        for (int i = 0; i < 200000; i++) hash = (hash ^ (uint64_t)i) * 1099511628211ULL;
    } while (thread_cpu_ms() < end);
    return hash;
}

__attribute__((noinline)) uint64_t spin_main_sort(double ms) {
    volatile uint32_t values[64];
    double end = thread_cpu_ms() + ms;
    do {
        for (int round = 0; round < 32; round++) {
            for (int i = 0; i < 64; i++) values[i] = (uint32_t)(i * 2654435761u);
            for (int i = 1; i < 64; i++)
                for (int j = i; j > 0 && values[j - 1] > values[j]; j--) {
                    uint32_t t = values[j]; values[j] = values[j - 1]; values[j - 1] = t;
                }
        }
    } while (thread_cpu_ms() < end);
    return values[0];
}

static void *cpu_worker(void *unused) {
    (void)unused;
    while (time_left()) {
        spin_main_hash(50);
        spin_main_sort(20);
        demo_library_checksum(30);
    }
    return NULL;
}

static void *tcp_receiver(void *arg) {
    int fd = *(int *)arg;
    char buffer[65536];
    while (read(fd, buffer, sizeof buffer) > 0) {}
    return NULL;
}

static void *tcp_worker(void *unused) {
    (void)unused;
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t length = sizeof address;
    if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof address) != 0 || listen(listener, 1) != 0
        || getsockname(listener, (struct sockaddr *)&address, &length) != 0) { perror("tcp listen"); exit(1); }
    int sender = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(sender, (struct sockaddr *)&address, sizeof address) != 0) { perror("tcp connect"); exit(1); }
    int receiver = accept(listener, NULL, NULL);
    pthread_t thread;
    pthread_create(&thread, NULL, tcp_receiver, &receiver);
    static char chunk[65536];
    while (time_left()) {
        if (write(sender, chunk, sizeof chunk) < 0) break;
    }
    close(sender);
    pthread_join(thread, NULL);
    close(receiver);
    close(listener);
    return NULL;
}

static void *pipe_reader(void *arg) {
    int fd = *(int *)arg;
    char buffer[65536];
    while (read(fd, buffer, sizeof buffer) > 0) {}
    return NULL;
}

static void *pipe_worker(void *unused) {
    (void)unused;
    int fds[2];
    if (pipe(fds) != 0) { perror("pipe"); exit(1); }
    pthread_t thread;
    pthread_create(&thread, NULL, pipe_reader, &fds[0]);
    static char chunk[4096];
    while (time_left()) {
        if (write(fds[1], chunk, sizeof chunk) < 0) break;
    }
    close(fds[1]);
    pthread_join(thread, NULL);
    close(fds[0]);
    return NULL;
}

static void *fsync_worker(void *unused) {
    (void)unused;
    char path[] = "/tmp/tandem-demo-fsync-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) { perror("mkstemp"); exit(1); }
    unlink(path);
    static char block[4096];
    while (time_left()) {
        if (write(fd, block, sizeof block) < 0 || fsync(fd) != 0) break;
        if (lseek(fd, 0, SEEK_CUR) > (64 << 20)) { ftruncate(fd, 0); lseek(fd, 0, SEEK_SET); }
    }
    close(fd);
    return NULL;
}

/* Two threads hand a token back and forth through a mutex and condition
 * variables: nearly every hand-off is a futex wait and a futex wake. */
static pthread_mutex_t token_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t token_changed = PTHREAD_COND_INITIALIZER;
static int token_holder;

static void *futex_player(void *arg) {
    int me = (int)(intptr_t)arg;
    pthread_mutex_lock(&token_lock);
    while (time_left()) {
        while (token_holder != me && time_left()) pthread_cond_wait(&token_changed, &token_lock);
        token_holder = 1 - me;
        pthread_cond_broadcast(&token_changed);
    }
    token_holder = 1 - me;
    pthread_cond_broadcast(&token_changed);
    pthread_mutex_unlock(&token_lock);
    return NULL;
}

static void *futex_worker(void *unused) {
    (void)unused;
    pthread_t players[2];
    for (int i = 0; i < 2; i++) pthread_create(&players[i], NULL, futex_player, (void *)(intptr_t)i);
    for (int i = 0; i < 2; i++) pthread_join(players[i], NULL);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s cpu|tcp|pipe|fsync|futex|mixed SECONDS\n", argv[0]);
        return 2;
    }
    seconds_to_run = atof(argv[2]);
    started = now_seconds();
    void *(*workers[5])(void *) = {0};
    int count = 0;
    if (!strcmp(argv[1], "cpu")) workers[count++] = cpu_worker;
    else if (!strcmp(argv[1], "tcp")) workers[count++] = tcp_worker;
    else if (!strcmp(argv[1], "pipe")) workers[count++] = pipe_worker;
    else if (!strcmp(argv[1], "fsync")) workers[count++] = fsync_worker;
    else if (!strcmp(argv[1], "futex")) workers[count++] = futex_worker;
    else if (!strcmp(argv[1], "mixed")) {
        workers[count++] = cpu_worker;
        workers[count++] = tcp_worker;
        workers[count++] = pipe_worker;
        workers[count++] = fsync_worker;
        workers[count++] = futex_worker;
    } else {
        fprintf(stderr, "%s: unknown mode %s (cpu, tcp, pipe, fsync, futex or mixed)\n", argv[0], argv[1]);
        return 2;
    }
    pthread_t threads[5];
    for (int i = 0; i < count; i++) pthread_create(&threads[i], NULL, workers[i], NULL);
    for (int i = 0; i < count; i++) pthread_join(threads[i], NULL);
    return 0;
}
