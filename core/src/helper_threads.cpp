#include "helper_threads.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <time.h>

namespace ddpm {
namespace {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// One run_on_helpers call: `parts` pieces of work, taken by the caller and at most `seats` helpers.
struct Call {
  int parts = 0;
  std::function<void(int)> body;
  std::atomic<int> next{0};
  int seats = 0;             // helpers that may still join; guarded by Helpers::mutex_
  int done = 0;              // guarded by Helpers::mutex_
  double cpu = 0;            // CPU seconds of the finished parts; guarded by Helpers::mutex_
  std::exception_ptr error;  // guarded by Helpers::mutex_
};

// Helper threads shared by every caller, each with one intra-op thread, started as needed and
// joined when the library is unloaded. A caller never waits for a part nobody has started:
// it takes parts itself until none is left, so concurrent jobs cannot starve each other.
class Helpers {
 public:
  static Helpers& instance() {
    static Helpers helpers;
    return helpers;
  }

  ~Helpers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // Runs body(0..parts-1) on the calling thread and up to threads - 1 helpers; returns the CPU
  // seconds the parts took.
  double run(int parts, int threads, std::function<void(int)> body) {
    auto call = std::make_shared<Call>();
    call->parts = parts;
    call->body = std::move(body);
    call->seats = std::min(threads, parts) - 1;
    if (call->seats > 0) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        while (static_cast<int>(threads_.size()) < call->seats) threads_.emplace_back([this] { loop(); });
        queue_.push_back(call);
      }
      work_cv_.notify_all();
    }
    work(*call);
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, [&] { return call->done == call->parts; });
    if (call->error) std::rethrow_exception(call->error);
    return call->cpu;
  }

 private:
  void work(Call& call) {
    for (int i; (i = call.next.fetch_add(1)) < call.parts;) {
      std::exception_ptr error;
      const double cpu = thread_cpu_seconds();
      try {
        call.body(i);
      } catch (...) {
        error = std::current_exception();
      }
      const double used = thread_cpu_seconds() - cpu;
      std::lock_guard<std::mutex> lock(mutex_);
      call.cpu += used;
      if (error && !call.error) call.error = error;
      if (++call.done == call.parts) done_cv_.notify_all();
    }
  }

  // Under the lock: the oldest call with parts left, whose seat the helper takes (calls that
  // are exhausted or have no seat left are dropped).
  std::shared_ptr<Call> next_call() {
    while (!queue_.empty() && queue_.front()->next.load() >= queue_.front()->parts) queue_.pop_front();
    if (queue_.empty()) return nullptr;
    std::shared_ptr<Call> call = queue_.front();
    if (--call->seats == 0) queue_.pop_front();
    return call;
  }

  void loop() {
    set_calling_thread_threads(1);
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      std::shared_ptr<Call> call;
      work_cv_.wait(lock, [&] { return stop_ || (call = next_call()) != nullptr; });
      if (stop_) return;
      lock.unlock();
      work(*call);
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<std::shared_ptr<Call>> queue_;
  std::vector<std::thread> threads_;
  bool stop_ = false;
};

}  // namespace

double run_on_helpers(int parts, int threads, std::function<void(int)> body) {
  return Helpers::instance().run(parts, threads, std::move(body));
}

}  // namespace ddpm
