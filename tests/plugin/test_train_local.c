/* A local multi-process training run started through the C ABI (ddpm_train_params
 * .local_processes): the job is rank 0 and starts ddpm_train_worker for rank 1.
 *   1. Two processes train 6 steps; the model equals a one-process run with the same global
 *      batch and seed (same images from both models, within float rounding), which needs the
 *      worker to have received every param.
 *   2. Cancelling the job stops both ranks after the same step; no child process is left.
 *   3. SIGKILL of the worker: the job fails with DDPM_ERR_IO naming the worker, the checkpoint
 *      stays loadable.
 *   4. Misuse: out-of-range counts, world_size together with local_processes, a missing worker.
 * Usage: test_train_local ASSET_DIR SCRATCH_DIR */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ddpm_plugin.h"

#define CHECK(c)                                                                     \
  do {                                                                               \
    if (!(c)) {                                                                      \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, __LINE__, \
              #c, ddpm_last_error());                                                \
      exit(1);                                                                       \
    }                                                                                \
  } while (0)

static const char* g_assets;
static char g_scratch[4096];

typedef struct {
  int joined;        /* the "rank 0 of 2 joined" message was seen */
  int cancel_at;     /* cancel once this step is reached (0: never) */
  int kill_at;       /* SIGKILL the worker once this step is reached (0: never) */
  long last_step;
} progress;

/* Our child processes (the workers), from /proc. */
static int children(pid_t* out, int max) {
  DIR* d = opendir("/proc");
  struct dirent* e;
  int n = 0;
  CHECK(d);
  while ((e = readdir(d)) && n < max) {
    char path[300], buf[512];
    FILE* f;
    int pid, ppid;
    char state;
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    if (!(f = fopen(path, "r"))) continue;
    if (fgets(buf, sizeof buf, f)) {
      const char* close_paren = strrchr(buf, ')'); /* the name may hold spaces */
      if (close_paren && sscanf(buf, "%d", &pid) == 1 &&
          sscanf(close_paren + 2, "%c %d", &state, &ppid) == 2 && ppid == getpid()) {
        out[n++] = pid;
      }
    }
    fclose(f);
  }
  closedir(d);
  return n;
}

static void on_step(ddpm_train_job* job, int64_t step, int64_t total, double loss, double ips,
                    double eta, const char* message, void* user) {
  progress* p = (progress*)user;
  (void)total, (void)loss, (void)ips, (void)eta;
  if (message && strstr(message, "rank 0 of 2 joined")) p->joined = 1;
  if (message) return;
  p->last_step = (long)step;
  if (p->cancel_at && step >= p->cancel_at) ddpm_train_cancel(job);
  if (p->kill_at && step == p->kill_at) {
    pid_t pids[8];
    const int n = children(pids, 8);
    CHECK(n == 1);
    printf("  killing worker pid %d at step %ld\n", (int)pids[0], (long)step);
    kill(pids[0], SIGKILL);
  }
}

static void base_params(ddpm_train_params* tp, const char* name, int processes) {
  static char out[4200], ckpt[4200];
  CHECK(ddpm_train_default_params(tp) == DDPM_OK);
  CHECK(tp->local_processes == 0 && tp->worker_path == NULL);
  snprintf(out, sizeof out, "%s/%s.safetensors", g_scratch, name);
  snprintf(ckpt, sizeof ckpt, "%s/%s.ckpt", g_scratch, name);
  remove(out);
  remove(ckpt);
  tp->assets = g_assets;
  tp->image_size = 16;
  tp->steps = 6;
  tp->batch = 4;
  tp->seed = 11;
  tp->bf16 = 0; /* the one-process run in float32, as data-parallel runs train by default */
  tp->lr = 1e-3;
  tp->label_drop = 0.25;
  tp->out_model = out;
  tp->checkpoint = ckpt;
  tp->checkpoint_every = 2;
  tp->local_processes = processes;
  tp->dist_timeout = 20;
}

/* One image of `model_path` (DDIM 4 steps, seed 5, class 0) as floats, in float32: bf16 rounds
 * every convolution's output, so weights that differ in their last bits (2 processes sum the
 * gradients in another order) could flip a rounding and hide the training's own agreement. */
static void render(const char* model_path, float* out, size_t floats) {
  ddpm_model* m = NULL;
  ddpm_generate_params gp;
  ddpm_job* job = NULL;
  CHECK(ddpm_set_precision("float32") == DDPM_OK);
  CHECK(ddpm_model_load(model_path, &m) == DDPM_OK);
  CHECK(ddpm_generate_default_params(&gp) == DDPM_OK);
  gp.class_index = 0;
  gp.steps = 4;
  gp.seed = 5;
  gp.preview_every = 0;
  CHECK(ddpm_generate_start(m, &gp, NULL, NULL, &job) == DDPM_OK);
  CHECK(ddpm_job_wait(job, -1) == DDPM_OK);
  CHECK(ddpm_job_result_f32(job, out, floats) == DDPM_OK);
  ddpm_job_free(job);
  ddpm_model_free(m);
}

static void test_equals_one_process(void) {
  ddpm_train_params tp;
  ddpm_train_job* job = NULL;
  progress pr = {0};
  static float one[16 * 16 * 4], two[16 * 16 * 4];
  char one_path[4200];
  double max_diff = 0;
  size_t i;

  base_params(&tp, "one", 1);
  CHECK(ddpm_train_start(&tp, NULL, NULL, &job) == DDPM_OK);
  CHECK(ddpm_train_wait(job, -1) == DDPM_OK);
  ddpm_train_free(job);
  snprintf(one_path, sizeof one_path, "%s", tp.out_model);

  base_params(&tp, "two", 2);
  CHECK(ddpm_train_start(&tp, on_step, &pr, &job) == DDPM_OK);
  CHECK(ddpm_train_wait(job, -1) == DDPM_OK);
  ddpm_train_free(job);
  CHECK(pr.joined && pr.last_step == 6);

  render(one_path, one, sizeof one / sizeof *one);
  render(tp.out_model, two, sizeof two / sizeof *two);
  for (i = 0; i < sizeof one / sizeof *one; ++i) {
    const double d = fabs((double)one[i] - two[i]);
    if (d > max_diff) max_diff = d;
  }
  printf("  2 processes vs 1: max pixel difference %.3g after 6 steps\n", max_diff);
  CHECK(max_diff < 2e-3);
  {
    pid_t pids[8];
    CHECK(children(pids, 8) == 0);
  }
}

static void test_cancel(void) {
  ddpm_train_params tp;
  ddpm_train_job* job = NULL;
  progress pr = {0};
  pid_t pids[8];
  ddpm_model* m = NULL;
  base_params(&tp, "cancel", 2);
  tp.steps = 100000;
  pr.cancel_at = 3;
  CHECK(ddpm_train_start(&tp, on_step, &pr, &job) == DDPM_OK);
  CHECK(ddpm_train_wait(job, -1) == DDPM_ERR_CANCELLED);
  ddpm_train_free(job);
  printf("  cancelled at step %ld: %s\n", pr.last_step, "both ranks stopped");
  CHECK(pr.last_step >= 3 && pr.last_step <= 5);
  CHECK(children(pids, 8) == 0);
  CHECK(ddpm_model_load(tp.out_model, &m) == DDPM_OK);
  ddpm_model_free(m);
}

static void test_killed_worker(void) {
  ddpm_train_params tp;
  ddpm_train_job* job = NULL;
  progress pr = {0};
  pid_t pids[8];
  ddpm_status st;
  ddpm_model* m = NULL;
  base_params(&tp, "killed", 2);
  tp.steps = 100000;
  pr.kill_at = 3;
  CHECK(ddpm_train_start(&tp, on_step, &pr, &job) == DDPM_OK);
  st = ddpm_train_wait(job, -1);
  printf("  after SIGKILL of the worker: %s: %s\n", ddpm_status_string(st), ddpm_last_error());
  CHECK(st == DDPM_ERR_IO);
  CHECK(strstr(ddpm_last_error(), "worker rank 1") && strstr(ddpm_last_error(), "signal 9"));
  ddpm_train_free(job);
  CHECK(children(pids, 8) == 0);
  /* The last checkpoint (written every 2 steps) resumes in one process. */
  CHECK(access(tp.checkpoint, R_OK) == 0);
  remove(tp.out_model);
  tp.local_processes = 1;
  tp.steps = pr.last_step + 1;
  CHECK(ddpm_train_start(&tp, NULL, NULL, &job) == DDPM_OK);
  CHECK(ddpm_train_wait(job, -1) == DDPM_OK);
  ddpm_train_free(job);
  CHECK(ddpm_model_load(tp.out_model, &m) == DDPM_OK);
  ddpm_model_free(m);
}

static void expect(ddpm_train_params* tp, ddpm_status want, const char* needle) {
  ddpm_train_job* job = NULL;
  const ddpm_status got = ddpm_train_start(tp, NULL, NULL, &job);
  printf("  %s: %s\n", ddpm_status_string(got), ddpm_last_error());
  CHECK(got == want && job == NULL && strstr(ddpm_last_error(), needle));
}

static void test_misuse(void) {
  ddpm_train_params tp;
  pid_t pids[8];
  base_params(&tp, "bad", 65);
  expect(&tp, DDPM_ERR_OUT_OF_RANGE, "local_processes 65");
  tp.local_processes = -1;
  expect(&tp, DDPM_ERR_OUT_OF_RANGE, "local_processes -1");
  tp.local_processes = 2;
  tp.world_size = 2;
  expect(&tp, DDPM_ERR_INVALID_ARGUMENT, "leave world_size at 1");
  tp.world_size = 1;
  tp.worker_path = "/nonexistent/ddpm_train_worker";
  expect(&tp, DDPM_ERR_NOT_FOUND, "/nonexistent/ddpm_train_worker");
  tp.worker_path = NULL;
  tp.batch = 3;
  expect(&tp, DDPM_ERR_INVALID_ARGUMENT, "divisible by the world size 2");
  CHECK(children(pids, 8) == 0);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s ASSET_DIR SCRATCH_DIR\n", argv[0]);
    return 2;
  }
  g_assets = argv[1];
  snprintf(g_scratch, sizeof g_scratch, "%s", argv[2]);
  test_misuse();
  test_equals_one_process();
  test_cancel();
  test_killed_worker();
  printf("local multi-process training: all checks passed\n");
  return 0;
}
