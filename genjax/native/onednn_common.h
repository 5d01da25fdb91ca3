// Helpers shared by genjax's oneDNN kernels: the CPU engine, user-managed scratchpads, and a
// parallel loop over XLA's intra-op thread pool whose chunks run single-threaded oneDNN.
#pragma once
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

namespace genjax {

namespace ffi = xla::ffi;

inline dnnl::engine& Engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

inline dnnl::primitive_attr UserScratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// Runs fn(0..total-1) on the calling thread and the pool's; returns when all have finished.
struct Chunks {
  std::atomic<int> next{0}, done{0};
  int total = 0;
  std::function<void(int)> fn;
  std::mutex mutex;
  std::condition_variable finished;
  std::string error;
};

inline void ParallelFor(ffi::ThreadPool& pool, int total, std::function<void(int)> fn) {
  auto w = std::make_shared<Chunks>();
  w->total = total;
  w->fn = std::move(fn);
  auto worker = [w]() {  // a task that starts after every chunk is claimed touches nothing
    for (int i; (i = w->next.fetch_add(1)) < w->total;) {
      omp_set_num_threads(1);  // this thread's oneDNN primitives run single-threaded
      try {
        w->fn(i);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(w->mutex);
        w->error = e.what();
      }
      if (w->done.fetch_add(1) + 1 == w->total) {
        std::lock_guard<std::mutex> lock(w->mutex);
        w->finished.notify_all();
      }
    }
  };
  for (int t = 1; t < total; ++t) {
    auto task = worker;
    pool.Schedule(std::move(task));
  }
  worker();
  std::unique_lock<std::mutex> lock(w->mutex);
  w->finished.wait(lock, [&] { return w->done.load() == w->total; });
  if (!w->error.empty()) throw std::runtime_error(w->error);
}

// Batch chunks [begin, end) of n examples, one per pool thread.
inline std::vector<std::pair<int64_t, int64_t>> Split(int64_t n, ffi::ThreadPool& pool) {
  int64_t parts = std::max<int64_t>(1, std::min<int64_t>(n, pool.num_threads()));
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t i = 0; i < parts; ++i) out.push_back({n * i / parts, n * (i + 1) / parts});
  return out;
}

// Runs fn(), turning a C++ exception into an FFI error that names the kernel.
template <typename F>
ffi::Error Guarded(const char* kernel, F fn) {
  try {
    fn();
    return ffi::Error::Success();
  } catch (const std::exception& e) {
    return ffi::Error(ffi::ErrorCode::kInternal, std::string(kernel) + ": " + e.what());
  }
}

// An FFI binding that takes XLA's intra-op thread pool, kArgs float32 buffers and returns kRets >= 1.
// Bindings cannot be copied or moved outside xla::ffi, so each step returns the next one directly.
template <int kArgs, int kRets, typename Binding>
auto WithF32Buffers(Binding&& binding) {
  static_assert(kRets >= 1, "a kernel returns at least one buffer");
  if constexpr (kArgs > 0) {
    return WithF32Buffers<kArgs - 1, kRets>(std::move(binding).template Arg<ffi::Buffer<ffi::F32>>());
  } else if constexpr (kRets > 1) {
    return WithF32Buffers<0, kRets - 1>(std::move(binding).template Ret<ffi::Buffer<ffi::F32>>());
  } else {
    return std::move(binding).template Ret<ffi::Buffer<ffi::F32>>();
  }
}

template <int kArgs, int kRets>
auto PooledF32Binding() {
  return WithF32Buffers<kArgs, kRets>(ffi::Ffi::Bind().Ctx<ffi::ThreadPool>());
}

}  // namespace genjax
