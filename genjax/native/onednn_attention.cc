// Scaled dot-product attention and its gradient for XLA:CPU through oneDNN, as XLA FFI custom
// calls, in the layout of jax.nn.dot_product_attention; float32.
//
//   genjax_attention_fwd: q [B, Tq, H, D], k [B, Tk, H, D], v [B, Tk, H, D]
//                         -> o [B, Tq, H, D], p [B, H, Tq, Tk]
//   genjax_attention_bwd: q, k, v, p, do -> dq, dk, dv
//
// with S = Q K^T / sqrt(D), P = softmax(S) over keys, O = P V, and FlashAttention's backward
// (Dao et al. 2022, Algorithm 2, untiled): dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(P * dP)),
// dQ = dS K / sqrt(D), dK = dS^T Q / sqrt(D). P is the only [Tq, Tk] residual.
//
// Each (example, head) pair is an item whose [T, D] operands are strided views of the [B, T, H, D]
// arrays (no transposes are materialised); the items are split into one chunk per thread of XLA's
// intra-op pool and every chunk runs single-threaded oneDNN (onednn_common.h), so an item's P,
// dP and dS stay in cache between the products. Primitives are built once per shape.
#include <cmath>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "onednn_common.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using dt = dnnl::memory::data_type;

namespace {

// A [rows, cols] float32 matrix with the given element strides.
memory::desc Mat(int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride) {
  return memory::desc({rows, cols}, dt::f32, memory::dims{row_stride, col_stride});
}

struct Matmul {
  dnnl::matmul prim;
  memory::desc src, wei, dst, scratch;
};

// dst = alpha * src @ wei.
Matmul MakeMatmul(const memory::desc& src, const memory::desc& wei, const memory::desc& dst, float alpha) {
  auto attr = genjax::UserScratchpad();
  if (alpha != 1.f) {
    dnnl::post_ops ops;
    ops.append_eltwise(dnnl::algorithm::eltwise_linear, alpha, 0.f);
    attr.set_post_ops(ops);
  }
  auto pd = dnnl::matmul::primitive_desc(genjax::Engine(), src, wei, dst, attr);
  return {dnnl::matmul(pd), src, wei, dst, pd.scratchpad_desc()};
}

void Run(const Matmul& m, const float* src, const float* wei, float* dst, std::vector<uint8_t>& scratch) {
  auto& eng = genjax::Engine();
  scratch.resize(std::max(scratch.size(), m.scratch.get_size()));
  dnnl::stream stream(eng);
  m.prim.execute(stream, {{DNNL_ARG_SRC, memory(m.src, eng, const_cast<float*>(src))},
                          {DNNL_ARG_WEIGHTS, memory(m.wei, eng, const_cast<float*>(wei))},
                          {DNNL_ARG_DST, memory(m.dst, eng, dst)},
                          {DNNL_ARG_SCRATCHPAD, memory(m.scratch, eng, scratch.data())}});
  stream.wait();
}

struct Shape {
  int64_t b, tq, tk, h, d;
  int64_t Row() const { return h * d; }  // stride between positions in [B, T, H, D]
  std::string Key() const {
    return std::to_string(tq) + "," + std::to_string(tk) + "," + std::to_string(h) + "," + std::to_string(d);
  }
};

// The primitives of one shape: forward S = Q K^T / sqrt(D) (into P), softmax in place, O = P V;
// backward dV, dP, dQ, dK (the softmax backward, dP -> dS in place, is `SoftmaxBackward`).
struct Prims {
  Matmul s, o, dv, dp, dq, dk;
  dnnl::softmax_forward softmax;
  memory::desc p, p_scratch;
};

std::mutex cache_mutex;
std::unordered_map<std::string, std::shared_ptr<Prims>> cache;

std::shared_ptr<Prims> Build(const Shape& g) {
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = cache.find(g.Key());
    if (it != cache.end()) return it->second;
  }
  auto& eng = genjax::Engine();
  const int64_t tq = g.tq, tk = g.tk, d = g.d, row = g.Row();
  const float scale = 1.f / std::sqrt(static_cast<float>(d));
  auto q = Mat(tq, d, row, 1), k = Mat(tk, d, row, 1), v = Mat(tk, d, row, 1);
  auto k_t = Mat(d, tk, 1, row), v_t = Mat(d, tk, 1, row);
  auto p = Mat(tq, tk, tk, 1), p_t = Mat(tk, tq, 1, tk);
  auto c = std::make_shared<Prims>();
  c->p = p;
  c->s = MakeMatmul(q, k_t, p, scale);
  c->o = MakeMatmul(p, v, q, 1.f);
  c->dv = MakeMatmul(p_t, q, k, 1.f);   // dV [Tk, D] = P^T dO
  c->dp = MakeMatmul(q, v_t, p, 1.f);   // dP [Tq, Tk] = dO V^T
  c->dq = MakeMatmul(p, k, q, scale);   // dQ = dS K / sqrt(D)
  c->dk = MakeMatmul(p_t, q, k, scale); // dK = dS^T Q / sqrt(D)
  auto attr = genjax::UserScratchpad();
  auto fwd_pd = dnnl::softmax_forward::primitive_desc(eng, dnnl::prop_kind::forward_training,
                                                      dnnl::algorithm::softmax_accurate, p, p, 1, attr);
  c->softmax = dnnl::softmax_forward(fwd_pd);
  c->p_scratch = fwd_pd.scratchpad_desc();
  std::lock_guard<std::mutex> lock(cache_mutex);
  cache.emplace(g.Key(), c);
  return c;
}

// Item i = (example, head): offsets of its views into q/o [B, Tq, H, D], k/v [B, Tk, H, D], p.
struct Item {
  int64_t q, kv, p;
};

Item Offsets(const Shape& g, int64_t i) {
  const int64_t b = i / g.h, h = i % g.h;
  return {b * g.tq * g.Row() + h * g.d, b * g.tk * g.Row() + h * g.d, i * g.tq * g.tk};
}

Shape MakeShape(ffi::Span<const int64_t> q, ffi::Span<const int64_t> k) { return {q[0], q[1], k[1], q[2], q[3]}; }

// One chunk's buffers: oneDNN scratchpad and the backward's [Tq, Tk] dP / dS.
struct Work {
  std::vector<uint8_t> scratch;
  std::vector<float> ds;
};

// Runs item(prims, shape, offsets, work) for every (example, head) pair of q [B, Tq, H, D] and
// k [B, Tk, H, D], one chunk of items per pool thread; a C++ exception becomes an error of `kernel`.
template <typename F>
ffi::Error ForEachItem(const char* kernel, ffi::ThreadPool& pool, const ffi::Buffer<ffi::F32>& q,
                       const ffi::Buffer<ffi::F32>& k, F item) {
  return genjax::Guarded(kernel, [&] {
    const Shape g = MakeShape(q.dimensions(), k.dimensions());
    auto c = Build(g);
    auto chunks = genjax::Split(g.b * g.h, pool);
    genjax::ParallelFor(pool, chunks.size(), [&](int n) {
      Work work;
      for (int64_t i = chunks[n].first; i < chunks[n].second; ++i) item(*c, g, Offsets(g, i), work);
    });
  });
}

// dS = P * (dP - rowsum(P * dP)) in place of dP, for [rows, cols] row-major P and dP. Written out
// rather than oneDNN's softmax backward, which has only its scalar reference kernel on AVX2 CPUs.
__attribute__((target_clones("avx512f", "avx2", "default")))
void SoftmaxBackward(const float* p, float* dp, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* pr = p + r * cols;
    float* dr = dp + r * cols;
    float dot = 0.f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < cols; ++j) dot += pr[j] * dr[j];
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) dr[j] = pr[j] * (dr[j] - dot);
  }
}

void Softmax(const dnnl::primitive& prim, const memory::desc& scratch_desc, std::unordered_map<int, memory> args,
             std::vector<uint8_t>& scratch) {
  auto& eng = genjax::Engine();
  scratch.resize(std::max(scratch.size(), scratch_desc.get_size()));
  args.insert({DNNL_ARG_SCRATCHPAD, memory(scratch_desc, eng, scratch.data())});
  dnnl::stream stream(eng);
  prim.execute(stream, args);
  stream.wait();
}

ffi::Error Fwd(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> q, ffi::Buffer<ffi::F32> k, ffi::Buffer<ffi::F32> v,
               ffi::ResultBuffer<ffi::F32> o, ffi::ResultBuffer<ffi::F32> p) {
  return ForEachItem("genjax_attention_fwd", pool, q, k,
                     [&](const Prims& c, const Shape& g, const Item& at, Work& work) {
                       float* pi = p->typed_data() + at.p;
                       Run(c.s, q.typed_data() + at.q, k.typed_data() + at.kv, pi, work.scratch);
                       memory pm(c.p, genjax::Engine(), pi);
                       Softmax(c.softmax, c.p_scratch, {{DNNL_ARG_SRC, pm}, {DNNL_ARG_DST, pm}}, work.scratch);
                       Run(c.o, pi, v.typed_data() + at.kv, o->typed_data() + at.q, work.scratch);
                     });
}

ffi::Error Bwd(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> q, ffi::Buffer<ffi::F32> k, ffi::Buffer<ffi::F32> v,
               ffi::Buffer<ffi::F32> p, ffi::Buffer<ffi::F32> d_o, ffi::ResultBuffer<ffi::F32> dq,
               ffi::ResultBuffer<ffi::F32> dk, ffi::ResultBuffer<ffi::F32> dv) {
  return ForEachItem("genjax_attention_bwd", pool, q, k,
                     [&](const Prims& c, const Shape& g, const Item& at, Work& work) {
                       auto& scratch = work.scratch;
                       auto& ds = work.ds;  // dP, then dS in place
                       ds.resize(g.tq * g.tk);
                       const float* pi = p.typed_data() + at.p;
                       const float* doi = d_o.typed_data() + at.q;
                       Run(c.dv, pi, doi, dv->typed_data() + at.kv, scratch);
                       Run(c.dp, doi, v.typed_data() + at.kv, ds.data(), scratch);
                       SoftmaxBackward(pi, ds.data(), g.tq, g.tk);
                       Run(c.dq, ds.data(), k.typed_data() + at.kv, dq->typed_data() + at.q, scratch);
                       Run(c.dk, ds.data(), q.typed_data() + at.q, dk->typed_data() + at.kv, scratch);
                     });
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(GenjaxAttentionFwd, Fwd, (genjax::PooledF32Binding<3, 2>()));

XLA_FFI_DEFINE_HANDLER_SYMBOL(GenjaxAttentionBwd, Bwd, (genjax::PooledF32Binding<5, 3>()));
