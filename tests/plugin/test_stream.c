/* The live-stream C ABI on the tiny model: warm-up and latency, a class change reaching the
 * output after exactly `latency` calls, a stream's frames equal to ordinary jobs, image input,
 * bad input, and steering from another thread while the stream's worker advances: every
 * frame read must be whole (equal to one of the reference images of its class, never a mix).
 *   test_stream MODEL */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "ddpm_plugin.h"

#define SIZE 16
#define FLOATS (SIZE * SIZE * 4)
#define STEPS 4

static double max_diff(const float* a, const float* b, int n) {
  double m = 0;
  int i;
  for (i = 0; i < n; ++i) {
    const double d = fabs((double)a[i] - (double)b[i]);
    if (d > m) m = d;
  }
  return m;
}

static ddpm_stream* open_stream(ddpm_model* model, int class_index, int seed_path) {
  ddpm_stream_params p;
  ddpm_stream* s = NULL;
  ddpm_stream_default_params(&p);
  p.steps = STEPS;
  p.class_index = class_index;
  p.guidance = 2.0f;
  p.seed_path = seed_path;
  p.seed = 42;
  CHECK(ddpm_stream_open(model, &p, &s) == DDPM_OK, "open");
  return s;
}

/* The image of an ordinary job with the stream's settings. */
static void job_image(ddpm_model* model, int class_index, uint64_t seed, float* out) {
  ddpm_generate_params p;
  ddpm_job* job = NULL;
  ddpm_generate_default_params(&p);
  /* No sampler named: a job and a stream both take DPM-Solver++ 2M SDE. */
  p.steps = STEPS;
  p.class_index = class_index;
  p.guidance = 2.0f;
  p.seed = seed;
  p.preview_every = 0;
  CHECK(ddpm_generate_start(model, &p, NULL, NULL, &job) == DDPM_OK, "start");
  CHECK(ddpm_job_wait(job, -1) == DDPM_OK, "wait");
  CHECK(ddpm_job_result_f32(job, out, FLOATS) == DDPM_OK, "result");
  ddpm_job_free(job);
}

static void test_latency_and_equivalence(ddpm_model* model) {
  ddpm_stream* s = open_stream(model, 0, DDPM_SEED_NEW);
  ddpm_stream_stats stats;
  ddpm_stream_frame info;
  float frame[FLOATS], ref[FLOATS];
  int call, ready, change_call = 0, first_new = 0, frames = 0;
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  stats.struct_size = sizeof stats;
  CHECK(ddpm_stream_read_frame(s, frame, FLOATS, &info) == DDPM_ERR_NOT_READY, "no frame before warm-up");
  for (call = 1; call <= 14; ++call) {
    if (call == 6) {
      CHECK(ddpm_stream_set_class(s, 2, 0) == DDPM_OK, "set class");
      change_call = call;
    }
    CHECK(ddpm_stream_advance(s, &ready) == DDPM_OK, "advance %d", call);
    CHECK(ready == (call >= STEPS), "call %d: frame_ready %d", call, ready);
    if (!ready) continue;
    ++frames;
    CHECK(ddpm_stream_read_frame(s, frame, FLOATS, &info) == DDPM_OK, "read");
    CHECK(info.number == frames && info.call == call, "frame %lld call %lld", (long long)info.number,
          (long long)info.call);
    CHECK(info.latency_calls == STEPS, "latency %d", info.latency_calls);
    CHECK(info.seed == 42u + (uint64_t)(info.entered_call - 1), "seed %llu", (unsigned long long)info.seed);
    if (info.class_index == 2 && !first_new) first_new = call;
    /* Every frame equals the ordinary job for its seed and class, up to the batch-size
     * dependence of oneDNN's convolutions (about 1e-6 per call; see tests/unit/test_stream.cpp,
     * which checks 1e-5 with batch-invariant kernels). */
    job_image(model, info.class_index, info.seed, ref);
    CHECK(max_diff(frame, ref, FLOATS) < 1e-4, "frame %lld differs from the job by %g",
          (long long)info.number, max_diff(frame, ref, FLOATS));
  }
  /* The change made before call 6 shows in the frame of call 6 + latency - 1. */
  CHECK(first_new == change_call + STEPS - 1, "class change reached the output at call %d", first_new);
  CHECK(ddpm_stream_get_stats(s, &stats) == DDPM_OK, "stats");
  CHECK(stats.calls == 14 && stats.frames == 14 - STEPS + 1 && stats.latency == STEPS &&
            stats.in_flight == STEPS - 1 && !stats.running,
        "stats calls %lld frames %lld latency %d in flight %d", (long long)stats.calls,
        (long long)stats.frames, stats.latency, stats.in_flight);
  {
    int count = 0;
    float slots[STEPS * FLOATS];
    CHECK(ddpm_stream_read_slots(s, NULL, 0, &count) == DDPM_OK && count == STEPS - 1, "slots %d", count);
    CHECK(ddpm_stream_read_slots(s, slots, FLOATS, &count) == DDPM_ERR_BUFFER_TOO_SMALL, "slot buffer");
    CHECK(ddpm_stream_read_slots(s, slots, sizeof slots / sizeof *slots, &count) == DDPM_OK, "slots");
  }
  ddpm_stream_close(s);
}

static void test_bad_input(ddpm_model* model) {
  ddpm_stream_params p;
  ddpm_stream* s = NULL;
  float frame[FLOATS];
  uint8_t rgba[FLOATS];
  ddpm_stream_default_params(&p);
  p.steps = -1;  /* 0 is the model's default */
  CHECK(ddpm_stream_open(model, &p, &s) == DDPM_ERR_OUT_OF_RANGE && !s, "steps -1");
  p.steps = 101;
  CHECK(ddpm_stream_open(model, &p, &s) == DDPM_ERR_OUT_OF_RANGE, "steps above T");
  p.steps = 4;
  p.class_index = 3;
  CHECK(ddpm_stream_open(model, &p, &s) == DDPM_ERR_OUT_OF_RANGE, "class 3");
  CHECK(strstr(ddpm_last_error(), "class 3 is out of range") != NULL, "message: %s", ddpm_last_error());
  p.class_index = 0;
  p.guidance = -1;
  CHECK(ddpm_stream_open(model, &p, &s) == DDPM_ERR_INVALID_ARGUMENT, "guidance -1");
  p.guidance = 3;
  p.sampler_name = "plms";
  CHECK(ddpm_stream_open(model, &p, &s) == DDPM_ERR_INVALID_ARGUMENT, "sampler plms");
  p.sampler_name = NULL;
  p.seed_path = 7;
  CHECK(ddpm_stream_open(model, &p, &s) == DDPM_ERR_INVALID_ARGUMENT, "seed path 7");
  p.seed_path = DDPM_SEED_WALK;
  p.struct_size = 8;
  CHECK(ddpm_stream_open(model, &p, &s) == DDPM_ERR_INVALID_ARGUMENT, "struct_size 8");
  ddpm_stream_default_params(&p);
  p.image_input = 1;
  p.strength = 0;
  CHECK(ddpm_stream_open(model, &p, &s) == DDPM_ERR_INVALID_ARGUMENT, "strength 0");
  CHECK(strstr(ddpm_last_error(), "strength 0 is invalid") != NULL, "message: %s", ddpm_last_error());

  s = open_stream(model, 1, DDPM_SEED_FIXED);
  memset(rgba, 128, sizeof rgba);
  CHECK(ddpm_stream_push_input(s, NULL, rgba, SIZE, SIZE) == DDPM_ERR_INVALID_ARGUMENT, "input to a text stream");
  CHECK(ddpm_stream_set_class(s, 9, 0) == DDPM_ERR_OUT_OF_RANGE, "set class 9");
  CHECK(ddpm_stream_set_guidance(s, -2, 1) == DDPM_ERR_INVALID_ARGUMENT, "set guidance -2");
  CHECK(ddpm_stream_set_seed_path(s, DDPM_SEED_WALK, 1, 0) == DDPM_ERR_OUT_OF_RANGE, "period 0");
  CHECK(ddpm_stream_set_blend(s, 1.5f) == DDPM_ERR_OUT_OF_RANGE, "blend 1.5");
  CHECK(ddpm_stream_run(s, -1) == DDPM_ERR_OUT_OF_RANGE, "fps -1");
  {
    int i;
    for (i = 0; i < STEPS; ++i) CHECK(ddpm_stream_advance(s, NULL) == DDPM_OK, "advance");
  }
  CHECK(ddpm_stream_read_frame(s, frame, 10, NULL) == DDPM_ERR_BUFFER_TOO_SMALL, "small buffer");
  CHECK(ddpm_stream_read_frame(s, NULL, 0, NULL) == DDPM_ERR_INVALID_ARGUMENT, "NULL buffer");
  CHECK(ddpm_stream_run(s, 0) == DDPM_OK, "run");
  CHECK(ddpm_stream_advance(s, NULL) == DDPM_ERR_INVALID_ARGUMENT, "advance while running");
  CHECK(ddpm_stream_pause(s) == DDPM_OK, "pause");
  CHECK(ddpm_stream_advance(s, NULL) == DDPM_OK, "advance after pause");
  ddpm_stream_close(s);
  ddpm_stream_close(NULL);
  CHECK(ddpm_stream_advance(NULL, NULL) == DDPM_ERR_INVALID_ARGUMENT, "NULL stream");
  /* Used after close: refused by name, and a second close is harmless. */
  CHECK(ddpm_stream_advance(s, NULL) == DDPM_ERR_INVALID_ARGUMENT, "advance after close");
  CHECK(strstr(ddpm_last_error(), "not open") != NULL, "message: %s", ddpm_last_error());
  CHECK(ddpm_stream_set_class(s, 0, 0) == DDPM_ERR_INVALID_ARGUMENT, "set class after close");
  ddpm_stream_close(s);
}

static int g_resize_messages;
static void on_log(ddpm_log_level level, const char* message, void* user_data) {
  (void)level, (void)user_data;
  if (strstr(message, "stream input resized from 32x32")) ++g_resize_messages;
}

static void test_image_input(ddpm_model* model) {
  ddpm_stream_params p;
  ddpm_stream* s = NULL;
  ddpm_stream_frame info;
  float frame[FLOATS], first[FLOATS];
  uint8_t rgba[32 * 32 * 4];
  int i, x, y, frames = 0;
  ddpm_stream_default_params(&p);
  p.steps = 10;
  p.image_input = 1;
  p.strength = 0.3f;
  p.seed_path = DDPM_SEED_FIXED;
  p.class_index = 1;
  CHECK(ddpm_stream_open(model, &p, &s) == DDPM_OK, "open image stream");
  CHECK(ddpm_stream_advance(s, NULL) == DDPM_ERR_NOT_READY, "advance without input");
  for (y = 0; y < 32; ++y)
    for (x = 0; x < 32; ++x) {
      uint8_t* px = rgba + (y * 32 + x) * 4;
      px[0] = (uint8_t)(x * 8), px[1] = (uint8_t)(y * 8), px[2] = 90, px[3] = 255;
    }
  ddpm_set_log_callback(on_log, DDPM_LOG_INFO, NULL);
  CHECK(ddpm_stream_push_input(s, NULL, rgba, 32, 32) == DDPM_OK, "push a 32x32 input (resized)");
  CHECK(ddpm_stream_push_input(s, NULL, rgba, 32, 32) == DDPM_OK, "push it again");
  ddpm_set_log_callback(NULL, DDPM_LOG_WARN, NULL);
  CHECK(g_resize_messages == 1, "the resize was said %d times, expected once", g_resize_messages);
  CHECK(ddpm_stream_push_input(s, NULL, rgba, 0, 32) == DDPM_ERR_OUT_OF_RANGE, "zero width");
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  for (i = 0; i < 8; ++i) {
    int ready = 0;
    CHECK(ddpm_stream_advance(s, &ready) == DDPM_OK, "advance");
    if (!ready) continue;
    CHECK(ddpm_stream_read_frame(s, frame, FLOATS, &info) == DDPM_OK, "read");
    CHECK(info.latency_calls == 3, "image stream latency %d (round(0.3 * 10))", info.latency_calls);
    if (frames++ == 0) {
      memcpy(first, frame, sizeof first);
    } else {
      CHECK(max_diff(frame, first, FLOATS) < 1e-6, "unchanged input, fixed seed: frame %lld moved by %g",
            (long long)info.number, max_diff(frame, first, FLOATS));
    }
  }
  CHECK(frames == 6, "frames %d", frames);
  ddpm_stream_close(s);
}

/* ---- Steering from another thread while the worker runs ---------------------------------- */

/* `stop` is read under `lock` (a volatile flag is a data race: ThreadSanitizer, scripts/test-tsan.sh);
 * the thread counts its own failures, checked after the join. */
typedef struct {
  ddpm_stream* stream;
  pthread_mutex_t lock;
  int stop;
  int calls, failures;
} steer_state;

static int steer_stopped(steer_state* st) {
  int stop;
  pthread_mutex_lock(&st->lock);
  stop = st->stop;
  pthread_mutex_unlock(&st->lock);
  return stop;
}

static void* steer(void* arg) {
  steer_state* st = (steer_state*)arg;
  int k = 0;
  struct timespec nap = {0, 300000};
  while (!steer_stopped(st)) {
    if (ddpm_stream_set_class(st->stream, k % 2, 0) != DDPM_OK) ++st->failures;
    if (ddpm_stream_set_guidance(st->stream, 2.0f, 0) != DDPM_OK) ++st->failures;
    if (ddpm_stream_set_blend(st->stream, 0.0f) != DDPM_OK) ++st->failures;
    ++k;
    nanosleep(&nap, NULL);
  }
  st->calls = k;
  return NULL;
}

static void test_steering_while_running(ddpm_model* model) {
  /* Fixed seed: every frame of class c is exactly the reference image of class c. */
  static float refs[2][FLOATS];
  float frame[FLOATS];
  ddpm_stream_frame info;
  steer_state st;
  pthread_t thread;
  ddpm_stream_stats stats;
  int c, reads = 0, torn = 0, seen[2] = {0, 0};
  int64_t last = 0;
  ddpm_stream* s;
  for (c = 0; c < 2; ++c) job_image(model, c, 42, refs[c]);
  CHECK(max_diff(refs[0], refs[1], FLOATS) > 0.01, "the classes' images are too close (%g) to tell a torn frame",
        max_diff(refs[0], refs[1], FLOATS));
  s = open_stream(model, 0, DDPM_SEED_FIXED);
  memset(&st, 0, sizeof st);
  pthread_mutex_init(&st.lock, NULL);
  st.stream = s;
  CHECK(ddpm_stream_run(s, 0) == DDPM_OK, "run");
  pthread_create(&thread, NULL, steer, &st);
  memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  stats.struct_size = sizeof stats;
  while (last <= 60 && reads < 200000) {
    const struct timespec nap = {0, 200000};
    const ddpm_status r = ddpm_stream_read_frame(s, frame, FLOATS, &info);
    nanosleep(&nap, NULL);
    if (r == DDPM_ERR_NOT_READY) continue;
    CHECK(r == DDPM_OK, "read while running");
    ++reads;
    CHECK(info.number >= last, "frame numbers went back: %lld after %lld", (long long)info.number,
          (long long)last);
    last = info.number;
    if (info.class_index < 0 || info.class_index > 1) {
      ++torn;
      continue;
    }
    ++seen[info.class_index];
    /* The two classes' images differ by far more than 1e-3; batch effects stay near 1e-5. */
    if (max_diff(frame, refs[info.class_index], FLOATS) > 1e-3) ++torn;
  }
  pthread_mutex_lock(&st.lock);
  st.stop = 1;
  pthread_mutex_unlock(&st.lock);
  pthread_join(thread, NULL);
  pthread_mutex_destroy(&st.lock);
  CHECK(st.failures == 0, "%d steering calls failed while running", st.failures);
  /* A bad steering value while the worker runs: refused, and the stream keeps running. */
  {
    ddpm_stream_stats a, b;
    struct timespec tenth = {0, 100000000};
    a.struct_size = b.struct_size = sizeof a;
    CHECK(ddpm_stream_set_class(s, 99, 1) == DDPM_ERR_OUT_OF_RANGE, "class 99 while running");
    CHECK(ddpm_stream_set_guidance(s, -1, 1) == DDPM_ERR_INVALID_ARGUMENT, "guidance -1 while running");
    int waited = 0;
    ddpm_stream_get_stats(s, &a);
    /* Up to 2 s for the next call: under ThreadSanitizer a call takes ~130 ms, not a few. */
    do {
      nanosleep(&tenth, NULL);
      ddpm_stream_get_stats(s, &b);
    } while (b.calls == a.calls && ++waited < 20);
    CHECK(b.running && b.calls > a.calls, "the stream stopped after a bad steering value");
  }
  CHECK(ddpm_stream_get_stats(s, &stats) == DDPM_OK && stats.running, "stats while running");
  CHECK(ddpm_stream_pause(s) == DDPM_OK, "pause");
  CHECK(torn == 0, "%d of %d frames read were not the image of their class", torn, reads);
  CHECK(seen[0] > 0 && seen[1] > 0, "classes seen: %d and %d", seen[0], seen[1]);
  printf("steering: %d reads, frames up to %lld, %d steering rounds, %.1f calls/s, 0 torn\n", reads,
         (long long)last, st.calls, stats.calls_per_second);
  /* A target rate: at most about 20 calls in one second at 20 fps (and not far fewer: a call
   * of the tiny model takes a few ms on an idle machine). */
  {
    struct timespec second = {1, 0};
    ddpm_stream_stats before, after;
    before.struct_size = after.struct_size = sizeof before;
    ddpm_stream_get_stats(s, &before);
    CHECK(ddpm_stream_run(s, 20.0f) == DDPM_OK, "run at 20 fps");
    nanosleep(&second, NULL);
    CHECK(ddpm_stream_pause(s) == DDPM_OK, "pause");
    ddpm_stream_get_stats(s, &after);
    /* "Not far fewer" only where a call takes under 100 ms (not under ThreadSanitizer). */
    CHECK(after.calls - before.calls >= (after.last_call_ms < 100 ? 5 : 1) &&
              after.calls - before.calls <= 22,
          "%lld calls in one second at 20 fps (a call takes %.0f ms)",
          (long long)(after.calls - before.calls), after.last_call_ms);
  }
  ddpm_stream_close(s);
}

int main(int argc, char** argv) {
  ddpm_model* model = NULL;
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL\n", argv[0]);
    return 2;
  }
  ddpm_set_threads(2);
  if (ddpm_model_load(argv[1], &model) != DDPM_OK) {
    fprintf(stderr, "cannot load %s: %s\n", argv[1], ddpm_last_error());
    return 1;
  }
  test_latency_and_equivalence(model);
  test_bad_input(model);
  test_image_input(model);
  test_steering_while_running(model);
  ddpm_model_free(model);
  if (g_failures) {
    fprintf(stderr, "%d failures\n", g_failures);
    return 1;
  }
  printf("stream: all checks passed\n");
  return 0;
}
