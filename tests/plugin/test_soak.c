/* Soak: 1000 generation jobs and 50 short training jobs on one plugin instance, started,
 * cancelled, waited on and freed in random order by several threads. Jobs go into a shared
 * pool, so a job is often cancelled or freed by another thread than the one that started it.
 * Checks that every job ends in a defined state (OK or CANCELLED, a result only when OK), and
 * that resident memory settles: the growth after the warm-up is printed every tenth of the
 * run, and the second half of the run must not grow by more than a small bound. CTest also runs it under LeakSanitizer through
 * test_leaks.sh, which fails on any leak at exit.
 *   test_soak MODEL SAMPLES_DIR SCRATCH [GENERATION_JOBS=1000] [TRAINING_JOBS=50] */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif

#include "ddpm_plugin.h"

/* Under ThreadSanitizer (scripts/test-tsan.sh) resident memory counts its shadow memory and its
 * own allocator, which malloc_trim does not shrink: the bounds say nothing there. */
#if defined(__SANITIZE_THREAD__)
#define SOAK_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SOAK_UNDER_TSAN 1
#endif
#endif
#ifndef SOAK_UNDER_TSAN
#define SOAK_UNDER_TSAN 0
#endif

#define THREADS 4
#define POOL 64

static int g_failures;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

#define CHECK(cond)                                                                     \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      pthread_mutex_lock(&g_lock);                                                      \
      fprintf(stderr, "%s:%d: CHECK failed: %s (%s)\n", __FILE__, __LINE__, #cond,     \
              ddpm_last_error());                                                       \
      ++g_failures;                                                                     \
      pthread_mutex_unlock(&g_lock);                                                    \
    }                                                                                   \
  } while (0)

typedef struct {
  ddpm_job* gen;
  ddpm_train_job* train;
} entry;

static struct {
  ddpm_model* model;
  const char* samples;
  const char* scratch;
  int gen_total, train_total;
  int gen_started, train_started;  /* tickets handed out, under g_lock */
  int gen_ok, gen_cancelled, train_ok, train_cancelled, finished;
  entry pool[POOL];
  int pool_size;
  int width, height, channels, classes;
  long warm_kib;
  long series[64]; /* resident KiB after every tenth of the jobs */
  int series_n, series_every;
} g;

static long resident_kib(void) {
  long pages = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (!f) return -1;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
  fclose(f);
  return resident * 4;
}

/* Resident memory once glibc has handed its free pages back: what the process still uses
 * (live allocations plus fragmentation), without the free memory each thread's malloc arena
 * keeps from the largest job it ran. */
static long trimmed_kib(void) {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
  return resident_kib();
}

static void sleep_ms(int ms) {
  struct timespec t;
  t.tv_sec = ms / 1000;
  t.tv_nsec = (long)(ms % 1000) * 1000000L;
  nanosleep(&t, NULL);
}

static void on_step(ddpm_job* job, int step, int total, const float* frame, int w, int h, int c,
                    int b, void* user) {
  (void)total, (void)frame, (void)w, (void)h, (void)c, (void)b;
  if (user && step >= (int)(intptr_t)user) ddpm_job_cancel(job);
}

/* Counts a finished job (under g_lock) and samples resident memory every tenth of the run. */
static void count_finished(void) {
  ++g.finished;
  if (g.series_every > 0 && g.finished % g.series_every == 0 && g.series_n < 64) {
    g.series[g.series_n++] = trimmed_kib();
  }
}

static entry start_one(unsigned* seed, int* is_training) {
  entry e = {NULL, NULL};
  int ticket = -1, training = 0;
  pthread_mutex_lock(&g_lock);
  /* Training tickets are spread over the run: one in every gen_total / train_total. */
  if (g.train_started < g.train_total &&
      (g.gen_started >= g.gen_total ||
       (long)g.train_started * g.gen_total < (long)g.gen_started * g.train_total)) {
    ticket = g.train_started++;
    training = 1;
  } else if (g.gen_started < g.gen_total) {
    ticket = g.gen_started++;
  }
  pthread_mutex_unlock(&g_lock);
  *is_training = training;
  if (ticket < 0) return e;
  if (training) {
    ddpm_train_params tp;
    char out[1024];
    snprintf(out, sizeof out, "%s/soak_train_%d.safetensors", g.scratch, ticket % 4);
    ddpm_train_default_params(&tp);
    tp.assets = g.samples;
    tp.out_model = out; /* copied by ddpm_train_start */
    tp.image_size = 16;
    tp.steps = 1 + (int)(rand_r(seed) % 3);
    tp.batch = 2;
    tp.seed = (uint64_t)ticket;
    CHECK(ddpm_train_start(&tp, NULL, NULL, &e.train) == DDPM_OK);
  } else {
    ddpm_generate_params p;
    const int cancel_at = (int)(rand_r(seed) % 4); /* 0: no cancel from the callback */
    ddpm_generate_default_params(&p);
    p.batch = 1 + (int)(rand_r(seed) % 2);
    p.steps = 1 + (int)(rand_r(seed) % 4);
    p.seed = (uint64_t)ticket;
    p.class_index = g.classes > 0 ? (int)(rand_r(seed) % (unsigned)(g.classes + 1)) - 1 : -1;
    p.sampler = (int)(rand_r(seed) % 4);
    p.preview_every = (int)(rand_r(seed) % 3);
    CHECK(ddpm_generate_start(g.model, &p, on_step, cancel_at ? (void*)(intptr_t)cancel_at : NULL,
                              &e.gen) == DDPM_OK);
    if (rand_r(seed) % 3 == 0) ddpm_job_cancel(e.gen); /* often before it even runs */
  }
  return e;
}

/* Ends a job one of several ways, checking that its state is a defined one. */
static void finish_one(entry e, unsigned* seed) {
  const int how = (int)(rand_r(seed) % 4);
  if (e.gen) {
    ddpm_status s;
    int step = 0, total = 0;
    static const size_t kMax = 2 * 64 * 64 * 4;
    float* buf;
    if (how == 0) { /* free while it may still run: free cancels and joins */
      ddpm_job_free(e.gen);
      pthread_mutex_lock(&g_lock);
      count_finished();
      pthread_mutex_unlock(&g_lock);
      return;
    }
    if (how == 1) ddpm_job_cancel(e.gen);
    if (how == 2) sleep_ms((int)(rand_r(seed) % 5));
    CHECK(ddpm_job_poll(e.gen, NULL, 0, &step, &total) == DDPM_OK && step <= total);
    s = ddpm_job_wait(e.gen, -1);
    CHECK(s == DDPM_OK || s == DDPM_ERR_CANCELLED);
    buf = (float*)malloc(kMax * sizeof *buf);
    if (buf) {
      const size_t n = (size_t)g.width * g.height * g.channels * 2;
      const ddpm_status r = ddpm_job_result_f32(e.gen, buf, n <= kMax ? n : kMax);
      /* A result exactly when the job finished; CANCELLED otherwise. */
      CHECK(r == s || (s == DDPM_OK && r == DDPM_ERR_BUFFER_TOO_SMALL));
      free(buf);
    }
    ddpm_job_free(e.gen);
    pthread_mutex_lock(&g_lock);
    if (s == DDPM_OK) ++g.gen_ok;
    else ++g.gen_cancelled;
    count_finished();
    pthread_mutex_unlock(&g_lock);
  } else if (e.train) {
    ddpm_status s;
    ddpm_train_status st;
    memset(&st, 0, sizeof st);
    if (how <= 1) ddpm_train_cancel(e.train);
    if (how == 3) {
      ddpm_train_free(e.train); /* free cancels and joins */
      pthread_mutex_lock(&g_lock);
      count_finished();
      pthread_mutex_unlock(&g_lock);
      return;
    }
    s = ddpm_train_wait(e.train, -1);
    CHECK(s == DDPM_OK || s == DDPM_ERR_CANCELLED);
    CHECK(ddpm_train_poll(e.train, &st) == DDPM_OK && st.done);
    ddpm_train_free(e.train);
    pthread_mutex_lock(&g_lock);
    if (s == DDPM_OK) ++g.train_ok;
    else ++g.train_cancelled;
    count_finished();
    pthread_mutex_unlock(&g_lock);
  }
}

static void* worker(void* arg) {
  unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1;
  for (;;) {
    entry e = {NULL, NULL};
    int start = (int)(rand_r(&seed) % 2), training = 0, done;
    pthread_mutex_lock(&g_lock);
    done = g.gen_started >= g.gen_total && g.train_started >= g.train_total;
    if (g.pool_size == POOL || (done && g.pool_size > 0)) start = 0;
    if (!start && g.pool_size > 0) { /* take a random job, maybe another thread's */
      const int k = (int)(rand_r(&seed) % (unsigned)g.pool_size);
      e = g.pool[k];
      g.pool[k] = g.pool[--g.pool_size];
    }
    pthread_mutex_unlock(&g_lock);
    if (e.gen || e.train) {
      finish_one(e, &seed);
      continue;
    }
    if (done) break;
    e = start_one(&seed, &training);
    if (!e.gen && !e.train) continue;
    pthread_mutex_lock(&g_lock);
    if (g.pool_size < POOL) {
      g.pool[g.pool_size++] = e;
      e.gen = NULL;
      e.train = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    if (e.gen || e.train) finish_one(e, &seed);
  }
  return NULL;
}

static void run(int gen_jobs, int train_jobs) {
  pthread_t threads[THREADS];
  int i;
  g.gen_total = gen_jobs;
  g.train_total = train_jobs;
  g.gen_started = g.train_started = 0;
  for (i = 0; i < THREADS; ++i) pthread_create(&threads[i], NULL, worker, (void*)(uintptr_t)(i + 1));
  for (i = 0; i < THREADS; ++i) pthread_join(threads[i], NULL);
}

int main(int argc, char** argv) {
  long after, raw;
  int i;
  time_t t0;
  int gen_jobs = 1000, train_jobs = 50;
  if (argc < 4) {
    fprintf(stderr, "usage: test_soak MODEL SAMPLES_DIR SCRATCH [GENERATION_JOBS] [TRAINING_JOBS]\n");
    return 2;
  }
  if (argc > 4) gen_jobs = atoi(argv[4]);
  if (argc > 5) train_jobs = atoi(argv[5]);
  g.samples = argv[2];
  g.scratch = argv[3];
  /* Four jobs at a time already fill the cores: one intra-op thread each. */
  CHECK(ddpm_set_threads(1) == DDPM_OK);
  CHECK(ddpm_model_load(argv[1], &g.model) == DDPM_OK);
  if (!g.model) return 1;
  CHECK(ddpm_model_get_shape(g.model, &g.width, &g.height, &g.channels, &g.classes, NULL) == DDPM_OK);
  t0 = time(NULL);
  run(40, 2); /* warm-up: thread pools, allocator arenas, the asset cache of the OS */
  g.warm_kib = trimmed_kib();
  g.gen_ok = g.gen_cancelled = g.train_ok = g.train_cancelled = g.finished = 0;
  g.series_every = (gen_jobs + train_jobs) / 10 > 0 ? (gen_jobs + train_jobs) / 10 : 1;
  run(gen_jobs, train_jobs);
  raw = resident_kib();
  after = trimmed_kib();
  ddpm_model_free(g.model);
  printf("soak: %d generation jobs (%d finished, %d cancelled) and %d training jobs (%d finished, "
         "%d cancelled), %d ended by free, from %d threads in %ld s\n",
         gen_jobs, g.gen_ok, g.gen_cancelled, train_jobs, g.train_ok, g.train_cancelled,
         g.finished - g.gen_ok - g.gen_cancelled - g.train_ok - g.train_cancelled, THREADS,
         (long)(time(NULL) - t0));
  printf("soak: resident %ld KiB at the end (%ld KiB before malloc_trim)\n", after, raw);
  printf("soak: resident %ld KiB after warm-up, %ld KiB at the end (%+ld KiB); every tenth:",
         g.warm_kib, after, after - g.warm_kib);
  for (i = 0; i < g.series_n; ++i) printf(" %ld", g.series[i] - g.warm_kib);
  printf(" KiB over the warm-up\n");
  CHECK(g.finished == gen_jobs + train_jobs);
  /* Settles: the first half of the run may still grow (caches, thread pools, fragmentation
   * from four training jobs at once), the second half must not. A job's frames and result
   * leaked would add ~0.1 MiB a job, a training job's model and optimizer several MiB.
   * LeakSanitizer (test_leaks.sh) checks for real leaks. */
  if (SOAK_UNDER_TSAN) {
    printf("soak: memory bounds not checked under ThreadSanitizer\n");
  } else {
    if (g.series_n == 10) {
      const long second_half = g.series[9] - g.series[4];
      printf("soak: second half of the run: %+ld KiB\n", second_half);
      CHECK(second_half < 64 * 1024);
    }
    CHECK(after - g.warm_kib < 1024 * 1024);
  }
  if (g_failures) {
    fprintf(stderr, "%d failure(s)\n", g_failures);
    return 1;
  }
  printf("passed\n");
  return 0;
}
