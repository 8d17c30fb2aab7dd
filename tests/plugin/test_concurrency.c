/* 8 jobs from 4 threads on one model, half of them cancelled at random moments; the others
 * must finish with the same images as a single-threaded run with the same seed.
 *   test_concurrency MODEL */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ddpm_plugin.h"

#define JOBS 8
#define THREADS 4
#define STEPS 12
#define BATCH 2
#define FLOATS (BATCH * 16 * 16 * 4)

static ddpm_model* g_model;
static float g_reference[JOBS][FLOATS];
static int g_failures;
static pthread_mutex_t g_fail_mutex = PTHREAD_MUTEX_INITIALIZER;

static void failure(int job, const char* what) {
  pthread_mutex_lock(&g_fail_mutex);
  fprintf(stderr, "job %d: %s (%s)\n", job, what, ddpm_last_error());
  ++g_failures;
  pthread_mutex_unlock(&g_fail_mutex);
}

static void params_for(int index, ddpm_generate_params* p) {
  ddpm_generate_default_params(p);
  p->batch = BATCH;
  p->steps = index % 2 ? 100 : STEPS; /* cancelled jobs run long enough to be cancelled */
  p->seed = 1000u + (uint64_t)index * 17u;
  p->class_index = index % 3;
  p->sampler = index % 2 ? DDPM_SAMPLER_DDPM : DDPM_SAMPLER_DDIM;
  p->preview_every = 3;
  p->tiling = index == 5;
}

typedef struct {
  int cancel_at; /* cancel from the callback at this step (0: never) */
  int cancelled_seen;
} cancel_plan;

static void on_step(ddpm_job* job, int step, int total, const float* frame, int width, int height,
                    int channels, int batch, void* user_data) {
  cancel_plan* plan = (cancel_plan*)user_data;
  (void)total, (void)frame, (void)width, (void)height, (void)channels, (void)batch;
  if (plan->cancel_at && step == plan->cancel_at) ddpm_job_cancel(job);
}

static unsigned g_seed = 4321u;
static pthread_mutex_t g_rand_mutex = PTHREAD_MUTEX_INITIALIZER;
static int next_random(int n) {
  int r;
  pthread_mutex_lock(&g_rand_mutex);
  g_seed = g_seed * 1103515245u + 12345u;
  r = (int)((g_seed >> 16) % (unsigned)n);
  pthread_mutex_unlock(&g_rand_mutex);
  return r;
}

static void* worker(void* arg) {
  int t = (int)(size_t)arg, k;
  float* out = (float*)malloc(FLOATS * sizeof(float));
  /* Thread t runs jobs t and t + THREADS at the same time; odd jobs are cancelled. */
  ddpm_job* jobs[JOBS / THREADS];
  cancel_plan plans[JOBS / THREADS];
  for (k = 0; k < JOBS / THREADS; ++k) {
    const int index = t + k * THREADS;
    ddpm_generate_params p;
    params_for(index, &p);
    memset(&plans[k], 0, sizeof plans[k]);
    if (index % 2) {
      const int how = next_random(3);
      if (how == 1) plans[k].cancel_at = 1 + next_random(STEPS - 1); /* from the callback */
      plans[k].cancelled_seen = how;                                /* 0 now, 2 after a sleep */
    }
    jobs[k] = NULL;
    if (ddpm_generate_start(g_model, &p, on_step, &plans[k], &jobs[k]) != DDPM_OK) failure(index, "start");
    if (index % 2 && plans[k].cancelled_seen == 0) ddpm_job_cancel(jobs[k]);
  }
  for (k = 0; k < JOBS / THREADS; ++k) {
    const int index = t + k * THREADS;
    if (index % 2 && plans[k].cancelled_seen == 2) {
      struct timespec ts = {0, 1000000L * next_random(30)};
      nanosleep(&ts, NULL);
      ddpm_job_cancel(jobs[k]);
    }
  }
  for (k = 0; k < JOBS / THREADS; ++k) {
    const int index = t + k * THREADS;
    const ddpm_status s = ddpm_job_wait(jobs[k], 120000);
    if (index % 2) {
      if (s != DDPM_ERR_CANCELLED) failure(index, "expected CANCELLED");
    } else if (s != DDPM_OK) {
      failure(index, "expected OK");
    } else if (ddpm_job_result_f32(jobs[k], out, FLOATS) != DDPM_OK) {
      failure(index, "result");
    } else {
      int i;
      for (i = 0; i < FLOATS; ++i) {
        float d = out[i] - g_reference[index][i];
        if (d > 1e-4f || d < -1e-4f) {
          failure(index, "differs from the single-threaded run");
          break;
        }
      }
    }
    ddpm_job_free(jobs[k]);
  }
  free(out);
  return NULL;
}

int main(int argc, char** argv) {
  pthread_t threads[THREADS];
  int i;
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL\n", argv[0]);
    return 2;
  }
  g_seed = (unsigned)time(NULL); /* random cancel moments; printed to reproduce a failure */
  printf("cancel seed %u\n", g_seed);
  ddpm_set_threads(1);
  if (ddpm_model_load(argv[1], &g_model) != DDPM_OK) {
    fprintf(stderr, "load: %s\n", ddpm_last_error());
    return 1;
  }
  /* Single-threaded references, one job at a time. */
  for (i = 0; i < JOBS; i += 2) {
    ddpm_generate_params p;
    ddpm_job* job = NULL;
    params_for(i, &p);
    if (ddpm_generate_start(g_model, &p, NULL, NULL, &job) != DDPM_OK ||
        ddpm_job_wait(job, -1) != DDPM_OK ||
        ddpm_job_result_f32(job, g_reference[i], FLOATS) != DDPM_OK) {
      failure(i, "reference run");
    }
    ddpm_job_free(job);
  }
  for (i = 0; i < THREADS; ++i) pthread_create(&threads[i], NULL, worker, (void*)(size_t)i);
  for (i = 0; i < THREADS; ++i) pthread_join(threads[i], NULL);
  ddpm_model_free(g_model);
  printf("%s\n", g_failures ? "FAILED" : "passed");
  return g_failures ? 1 : 0;
}
