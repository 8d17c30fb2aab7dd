/* ddpm_model_load_ex's params on the tiny model. The device:
 *  - ddpm_model_params_init and load_ex refuse bad struct sizes; NULL params, NULL and "" device
 *    load on the CPU, and "device" in the model's JSON says so;
 *  - a model loaded with "cpu" gives the same bits as ddpm_model_load's, in a job and a stream;
 *  - an unknown device name, a GPU index past the last GPU, and "cuda" where this library has
 *    no CUDA are INVALID_ARGUMENT with a message naming the problem; "auto" loads somewhere;
 *  - where a GPU is present (a CUDA build on a GPU machine), a job and a stream of the model on
 *    CUDA give the CPU's images up to float32 rounding, with every preview handed out.
 * The model's threads: out of range refused by name; its jobs and streams that name no threads
 * of their own get the model's (the worker's debug log says its budget), a job's own wins, and
 * the images do not change.
 *   test_model_params MODEL */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ddpm_plugin.h"

#define BATCH 2
/* Floats of one image and of a job's batch: the model's size (the tiny model in CTest, the
   default model in scripts/gpu-check.sh). */
static size_t g_image, g_floats;
#define STEPS 6

/* A refused call: its status, and a message that contains `text`. */
static void expect_refused(ddpm_status got, ddpm_status want, const char* text, const char* what) {
  const char* msg = ddpm_last_error();
  CHECK(got == want && msg && strstr(msg, text), "%s: got %s, message '%s' (want %s naming '%s')", what,
        ddpm_status_string(got), msg ? msg : "(null)", ddpm_status_string(want), text);
  if (got == want) printf("  %-34s -> %s\n", what, msg);
}

/* The "device" of the model's JSON, into `out`. */
static void device_of(const ddpm_model* m, char* out, size_t size) {
  char* json = NULL;
  const char* at;
  out[0] = 0;
  if (ddpm_model_info_json(m, &json) != DDPM_OK) return;
  at = strstr(json, "\"device\": \"");
  if (at) {
    size_t n = 0;
    at += strlen("\"device\": \"");
    while (at[n] && at[n] != '"' && n + 1 < size) ++n;
    memcpy(out, at, n);
    out[n] = 0;
  }
  ddpm_string_free(json);
}

static ddpm_model* load_with(const char* path, const char* device, int threads) {
  ddpm_model_params p;
  ddpm_model* m = NULL;
  CHECK(ddpm_model_default_params(&p) == DDPM_OK, "model params");
  p.device = device;
  p.threads = threads;
  CHECK(ddpm_model_load_ex(path, &p, &m) == DDPM_OK, "load on %s", device ? device : "NULL");
  return m;
}
static ddpm_model* load_on(const char* path, const char* device) { return load_with(path, device, 0); }

/* The last "job: ..." and "stream: ..." debug messages (they come from worker threads). */
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_job_log[128], g_stream_log[128];
static void on_log(ddpm_log_level level, const char* message, void* user_data) {
  (void)level, (void)user_data;
  pthread_mutex_lock(&g_log_lock);
  if (strncmp(message, "job: ", 5) == 0) snprintf(g_job_log, sizeof g_job_log, "%s", message);
  if (strncmp(message, "stream: ", 8) == 0) snprintf(g_stream_log, sizeof g_stream_log, "%s", message);
  pthread_mutex_unlock(&g_log_lock);
}
static int logged(const char* which, const char* text) {
  int found;
  pthread_mutex_lock(&g_log_lock);
  found = strcmp(which[0] == 'j' ? g_job_log : g_stream_log, text) == 0;
  if (!found) fprintf(stderr, "  logged '%s'\n", which[0] == 'j' ? g_job_log : g_stream_log);
  pthread_mutex_unlock(&g_log_lock);
  return found;
}

static int g_previews;
static void on_step(ddpm_job* job, int step, int total, const float* frame, int width, int height,
                    int channels, int batch, void* user_data) {
  int i, ok = 1;
  (void)job, (void)step, (void)total, (void)user_data;
  if (!frame) return;
  for (i = 0; i < width * height * channels * batch; ++i) ok &= frame[i] >= 0.0f && frame[i] <= 1.0f;
  if (ok) ++g_previews;
}

/* A job's image: DPM-Solver++ 2M SDE (fresh noise every step, all from the seed), guided;
   `threads` is the job's own. */
static void job_image_on(ddpm_model* m, int threads, float* out) {
  ddpm_generate_params p;
  ddpm_job* job = NULL;
  ddpm_generate_default_params(&p);
  p.threads = threads;
  p.batch = BATCH;
  p.class_index = 1;
  p.guidance = 2.5f;
  p.steps = STEPS;
  p.seed = 31;
  g_previews = 0;
  CHECK(ddpm_generate_start(m, &p, on_step, NULL, &job) == DDPM_OK, "start");
  CHECK(ddpm_job_wait(job, -1) == DDPM_OK, "wait");
  CHECK(ddpm_job_result_f32(job, out, g_floats) == DDPM_OK, "result");
  CHECK(g_previews == STEPS, "%d previews in range of %d steps", g_previews, STEPS);
  ddpm_job_free(job);
}
static void job_image(ddpm_model* m, float* out) { job_image_on(m, 0, out); }

/* The first frame of a 4-stage stream. */
static void stream_frame(ddpm_model* m, float* out) {
  ddpm_stream_params p;
  ddpm_stream* s = NULL;
  int ready = 0, calls = 0;
  ddpm_stream_default_params(&p);
  p.steps = 4;
  p.class_index = 0;
  p.seed = 9;
  CHECK(ddpm_stream_open(m, &p, &s) == DDPM_OK, "stream open");
  while (s && !ready && calls++ < 10) CHECK(ddpm_stream_advance(s, &ready) == DDPM_OK, "advance");
  CHECK(ready, "no frame after %d calls", calls);
  if (s) CHECK(ddpm_stream_read_frame(s, out, g_image, NULL) == DDPM_OK, "read frame");
  ddpm_stream_close(s);
}

/* The same request on two devices: LibTorch on CUDA may run convolutions in TF32 (10-bit
   mantissas), so a few steps end apart by up to a few thousandths on average and a few hundredths
   at worst, where a wrong image (another seed, class or step) is tenths apart on average. */
static void compare(const float* a, const float* b, int n, const char* what) {
  double worst = 0, sum = 0;
  int i;
  for (i = 0; i < n; ++i) {
    const double d = fabs((double)a[i] - (double)b[i]);
    sum += d;
    if (d > worst) worst = d;
  }
  printf("  %-34s max diff %.3g, mean %.3g\n", what, worst, sum / n);
  CHECK(worst <= 0.05 && sum / n <= 0.005, "%s: max diff %g (allowed 0.05), mean %g (allowed 0.005)", what,
        worst, sum / n);
}

int main(int argc, char** argv) {
  float *base, *other, *base_frame, *other_frame;
  int width = 0, height = 0, channels = 0;
  ddpm_model_params p;
  ddpm_model *plain = NULL, *m = NULL;
  char device[64];
  int has_gpu;
  if (argc != 2) {
    fprintf(stderr, "usage: test_device MODEL\n");
    return 2;
  }
  /* float32 on both sides: CUDA runs float32, so the CPU's bf16 would not compare. */
  CHECK(ddpm_set_precision("float32") == DDPM_OK, "precision");

  puts("== params and defaults");
  expect_refused(ddpm_model_params_init(NULL, sizeof p), DDPM_ERR_INVALID_ARGUMENT, "NULL", "init NULL");
  expect_refused(ddpm_model_params_init(&p, 3), DDPM_ERR_INVALID_ARGUMENT, "struct_size 3", "init size 3");
  CHECK(ddpm_model_default_params(&p) == DDPM_OK && p.struct_size == sizeof p && p.device == NULL, "defaults");
  p.struct_size = 5000;
  expect_refused(ddpm_model_load_ex(argv[1], &p, &m), DDPM_ERR_INVALID_ARGUMENT, "struct_size 5000",
                 "load_ex struct_size 5000");
  CHECK(m == NULL, "a refused load leaves *out NULL");
  expect_refused(ddpm_model_load_ex(NULL, NULL, &m), DDPM_ERR_INVALID_ARGUMENT, "path is NULL", "load_ex NULL path");
  expect_refused(ddpm_model_load_ex("/nonexistent/m.safetensors", NULL, &m), DDPM_ERR_NOT_FOUND,
                 "does not exist", "load_ex missing file");
  CHECK(ddpm_model_load(argv[1], &plain) == DDPM_OK, "plain load");
  if (!plain) return 1;
  CHECK(ddpm_model_get_shape(plain, &width, &height, &channels, NULL, NULL) == DDPM_OK, "shape");
  g_image = (size_t)width * height * channels;
  g_floats = BATCH * g_image;
  base = malloc(g_floats * sizeof *base);
  other = malloc(g_floats * sizeof *other);
  base_frame = malloc(g_image * sizeof *base_frame);
  other_frame = malloc(g_image * sizeof *other_frame);
  device_of(plain, device, sizeof device);
  CHECK(strcmp(device, "cpu") == 0, "ddpm_model_load's device is '%s'", device);
  CHECK(ddpm_model_load_ex(argv[1], NULL, &m) == DDPM_OK, "load_ex NULL params");
  device_of(m, device, sizeof device);
  CHECK(strcmp(device, "cpu") == 0, "NULL params: device '%s'", device);
  ddpm_model_free(m);
  m = load_on(argv[1], "");
  device_of(m, device, sizeof device);
  CHECK(strcmp(device, "cpu") == 0, "an empty name: device '%s'", device);
  ddpm_model_free(m);

  puts("== \"cpu\" gives ddpm_model_load's bits");
  job_image(plain, base);
  stream_frame(plain, base_frame);
  m = load_on(argv[1], "cpu");
  job_image(m, other);
  CHECK(memcmp(base, other, g_floats * sizeof *base) == 0, "job on \"cpu\" differs from ddpm_model_load's");
  stream_frame(m, other_frame);
  CHECK(memcmp(base_frame, other_frame, g_image * sizeof *base_frame) == 0, "stream on \"cpu\" differs");
  ddpm_model_free(m);

  puts("== names refused");
  p.struct_size = sizeof p;
  m = NULL;
  p.device = "gpu";
  expect_refused(ddpm_model_load_ex(argv[1], &p, &m), DDPM_ERR_INVALID_ARGUMENT, "'gpu'", "device gpu");
  p.device = "cuda:x";
  expect_refused(ddpm_model_load_ex(argv[1], &p, &m), DDPM_ERR_INVALID_ARGUMENT, "cuda:x", "device cuda:x");
  p.device = "cuda:99";
  expect_refused(ddpm_model_load_ex(argv[1], &p, &m), DDPM_ERR_INVALID_ARGUMENT, "cuda:99", "device cuda:99");
  CHECK(m == NULL, "refused loads leave *out NULL");

  puts("== auto, and cuda where there is a GPU");
  m = load_on(argv[1], "auto");
  device_of(m, device, sizeof device);
  has_gpu = strncmp(device, "cuda", 4) == 0;
  CHECK(has_gpu || strcmp(device, "cpu") == 0, "auto: device '%s'", device);
  printf("  auto loaded on %s\n", device);
  ddpm_model_free(m);
  m = NULL;
  if (!has_gpu) {
    p.device = "cuda";
    expect_refused(ddpm_model_load_ex(argv[1], &p, &m), DDPM_ERR_INVALID_ARGUMENT, "no CUDA", "device cuda (no GPU)");
  } else {
    m = load_on(argv[1], "cuda");
    device_of(m, device, sizeof device);
    CHECK(strcmp(device, "cuda:0") == 0, "cuda: device '%s'", device);
    job_image(m, other);
    compare(base, other, (int)g_floats, "job, cuda against cpu");
    stream_frame(m, other_frame);
    compare(base_frame, other_frame, (int)g_image, "stream frame, cuda against cpu");
    ddpm_model_free(m);
  }

  puts("== the model's threads");
  CHECK(ddpm_set_log_callback(on_log, DDPM_LOG_DEBUG, NULL) == DDPM_OK, "log callback");
  CHECK(ddpm_set_threads(2) == DDPM_OK, "two threads process-wide");
  p.device = NULL;
  p.threads = -1;
  expect_refused(ddpm_model_load_ex(argv[1], &p, &m), DDPM_ERR_OUT_OF_RANGE, "threads -1", "threads -1");
  p.threads = 1025;
  expect_refused(ddpm_model_load_ex(argv[1], &p, &m), DDPM_ERR_OUT_OF_RANGE, "threads 1025", "threads 1025");
  CHECK(m == NULL, "refused loads leave *out NULL");
  job_image(plain, base);
  CHECK(logged("job", "job: up to 2 CPU threads"), "a job of a model without threads: the process-wide 2");
  m = load_with(argv[1], NULL, 1);
  job_image(m, other);
  CHECK(logged("job", "job: up to 1 CPU thread"), "a job naming no threads on a one-thread model");
  CHECK(memcmp(base, other, g_floats * sizeof *base) == 0, "the image changed with the thread count");
  job_image_on(m, 2, other);
  CHECK(logged("job", "job: up to 2 CPU threads"), "a job's own threads win over the model's");
  CHECK(memcmp(base, other, g_floats * sizeof *base) == 0, "the image changed with the thread count");
  stream_frame(m, other_frame);
  CHECK(logged("stream", "stream: up to 1 CPU thread"), "a stream naming no threads on a one-thread model");
  CHECK(memcmp(base_frame, other_frame, g_image * sizeof *base_frame) == 0, "the stream's frame changed with the thread count");
  ddpm_model_free(m);
  CHECK(ddpm_set_log_callback(NULL, DDPM_LOG_WARN, NULL) == DDPM_OK, "log callback off");

  ddpm_model_free(plain);
  free(base), free(other), free(base_frame), free(other_frame);
  if (g_failures) {
    fprintf(stderr, "%d failure(s)\n", g_failures);
    return 1;
  }
  puts("ok");
  return 0;
}
