/* POSIX threads with musl: create/join with results, a mutex + condition
 * variable producer/consumer, pthread_once, and thread-local storage
 * (__thread). One line per check, then "pthreads ok". */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 8
#define ITEMS 1000
#define QUEUE 16

static void *square(void *arg) {
    uintptr_t i = (uintptr_t)arg;
    return (void *)(i * i);
}

/* A bounded queue guarded by one mutex and two condition variables. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static int queue[QUEUE];
static int head, count;

static void *producer(void *arg) {
    (void)arg;
    for (int i = 1; i <= ITEMS; i++) {
        pthread_mutex_lock(&lock);
        while (count == QUEUE)
            pthread_cond_wait(&not_full, &lock);
        queue[(head + count++) % QUEUE] = i;
        pthread_cond_signal(&not_empty);
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static void *consumer(void *arg) {
    long sum = 0;
    for (int i = 0; i < ITEMS; i++) {
        pthread_mutex_lock(&lock);
        while (count == 0)
            pthread_cond_wait(&not_empty, &lock);
        sum += queue[head];
        head = (head + 1) % QUEUE;
        count--;
        pthread_cond_signal(&not_full);
        pthread_mutex_unlock(&lock);
    }
    *(long *)arg = sum;
    return NULL;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_runs;
static void init_once(void) { once_runs++; }
static void *call_once(void *arg) {
    (void)arg;
    pthread_once(&once, init_once);
    return NULL;
}

static __thread int tls_value = 7;
static void *use_tls(void *arg) {
    uintptr_t id = (uintptr_t)arg;
    int first = tls_value; /* every thread starts from the initial value */
    for (int i = 0; i < 1000; i++)
        tls_value += (int)id;
    return (void *)(uintptr_t)(first == 7 && tls_value == 7 + 1000 * (int)id);
}

int main(void) {
    pthread_t t[THREADS];

    uintptr_t squares = 0;
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, square, (void *)i);
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        squares += (uintptr_t)r;
    }
    printf("join: %d threads, sum of squares %lu\n", THREADS, (unsigned long)squares);

    long sum = 0;
    pthread_t p, c;
    pthread_create(&c, NULL, consumer, &sum);
    pthread_create(&p, NULL, producer, NULL);
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    printf("producer/consumer: %d items, sum %ld\n", ITEMS, sum);

    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, call_once, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("once: ran %d time(s)\n", once_runs);

    int good = 0;
    for (uintptr_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, use_tls, (void *)(i + 1));
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        good += (int)(uintptr_t)r;
    }
    printf("tls: %d/%d threads had their own copy, main's is %d\n", good, THREADS, tls_value);

    if (squares != 140 || sum != (long)ITEMS * (ITEMS + 1) / 2 || once_runs != 1 || good != THREADS ||
        tls_value != 7) {
        printf("pthreads FAILED\n");
        return 1;
    }
    printf("pthreads ok\n");
    return 0;
}
