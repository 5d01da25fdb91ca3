// 2D convolutions and their gradients for XLA:CPU through oneDNN, as XLA FFI custom calls.
// Activations are NHWC and weights HWIO, the layouts of jax.lax.conv_general_dilated with
// dimension_numbers ("NHWC", "HWIO", "NHWC"); float32, no dilation, one feature group.
//
//   genjax_conv_fwd:         x [N, H, W, C], w [KH, KW, C, O]    -> y [N, OH, OW, O]
//   genjax_conv_bwd_data:    dy [N, OH, OW, O], w [KH, KW, C, O] -> dx [N, H, W, C]
//   genjax_conv_bwd_weights: x [N, H, W, C], dy [N, OH, OW, O]   -> dw [KH, KW, C, O]
//
// Attributes: stride_h, stride_w, pad_t, pad_b, pad_l, pad_r (int64).
//
// Threading: the batch is split into one chunk per thread of XLA's intra-op pool, and each chunk
// runs single-threaded oneDNN on whichever pool thread claims it (the calling thread claims
// chunks too, so a busy pool never blocks a call). OpenMP's own threads would compete with the
// pool's for the same cores. Weight gradients of the chunks are summed. Primitives are built once
// per shape and cached, each with its preferred weights layout (reordered from and to HWIO per
// chunk); scratchpads are per chunk, so concurrent calls are safe.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "onednn_common.h"

namespace ffi = xla::ffi;
using genjax::Engine;
using genjax::ParallelFor;
using genjax::Split;
using genjax::UserScratchpad;
using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

struct Geometry {
  memory::dims src, wei, dst, strides, pad_l, pad_r;
  std::string Key(char kind) const {
    std::string key(1, kind);
    for (const auto* v : {&src, &wei, &dst, &strides, &pad_l, &pad_r})
      for (auto d : *v) key += "," + std::to_string(d);
    return key;
  }
};

struct Cached {
  dnnl::primitive prim;
  memory::desc wei_user, wei_prim;  // HWIO as given, and the primitive's preferred layout
  memory::desc scratch;
};

std::mutex cache_mutex;
std::unordered_map<std::string, std::shared_ptr<Cached>> cache;

// Sets c to the backward primitive Bwd of `fwd`, whose weights (or weight gradient) take the
// layout weights_of(primitive_desc).
template <typename Bwd, typename WeightsOf>
void SetBackward(Cached& c, const Geometry& g, const memory::desc& src, const memory::desc& wei,
                 const memory::desc& dst, const dnnl::convolution_forward::primitive_desc& fwd,
                 WeightsOf weights_of) {
  typename Bwd::primitive_desc pd(Engine(), dnnl::algorithm::convolution_direct, src, wei, dst, g.strides, g.pad_l,
                                  g.pad_r, fwd, UserScratchpad());
  c.prim = Bwd(pd);
  c.wei_prim = weights_of(pd);
  c.scratch = pd.scratchpad_desc();
}

std::shared_ptr<Cached> Build(const Geometry& g, char kind) {
  const std::string key = g.Key(kind);
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  auto& eng = Engine();
  memory::desc src(g.src, dt::f32, tag::nhwc), dst(g.dst, dt::f32, tag::nhwc);
  memory::desc wei_any(g.wei, dt::f32, tag::any), wei_user(g.wei, dt::f32, tag::hwio);
  auto fwd = dnnl::convolution_forward::primitive_desc(  // the forward, and the backward's hint
      eng, dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src, wei_any, dst,
      g.strides, g.pad_l, g.pad_r, UserScratchpad());
  auto c = std::make_shared<Cached>();
  c->wei_user = wei_user;
  if (kind == 'f') {
    c->prim = dnnl::convolution_forward(fwd);
    c->wei_prim = fwd.weights_desc();
    c->scratch = fwd.scratchpad_desc();
  } else if (kind == 'd') {
    SetBackward<dnnl::convolution_backward_data>(*c, g, src, wei_any, dst, fwd,
                                                 [](const auto& pd) { return pd.weights_desc(); });
  } else {
    SetBackward<dnnl::convolution_backward_weights>(*c, g, src, wei_any, dst, fwd,
                                                    [](const auto& pd) { return pd.diff_weights_desc(); });
  }
  std::lock_guard<std::mutex> lock(cache_mutex);
  cache.emplace(key, c);
  return c;
}

// x, dy and w dims from the FFI buffers (NHWC / HWIO) to oneDNN's logical NCHW / OIHW.
Geometry MakeGeometry(ffi::Span<const int64_t> x, ffi::Span<const int64_t> w, ffi::Span<const int64_t> y,
                      int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  Geometry g;
  g.src = {x[0], x[3], x[1], x[2]};
  g.wei = {w[3], w[2], w[0], w[1]};
  g.dst = {y[0], y[3], y[1], y[2]};
  g.strides = {sh, sw};
  g.pad_l = {pt, pl};
  g.pad_r = {pb, pr};
  return g;
}

void Execute(const std::shared_ptr<Cached>& c, std::unordered_map<int, memory> args) {
  auto& eng = Engine();
  dnnl::stream stream(eng);
  std::vector<uint8_t> scratch(c->scratch.get_size());
  args.insert({DNNL_ARG_SCRATCHPAD, memory(c->scratch, eng, scratch.data())});
  c->prim.execute(stream, args);
  stream.wait();
}

Geometry WithBatch(Geometry g, int64_t n) {
  g.src[0] = g.dst[0] = n;
  return g;
}

int64_t PerExample(const memory::dims& d) { return d[1] * d[2] * d[3]; }

void Reorder(memory from, memory to) {
  dnnl::stream stream(Engine());
  dnnl::reorder(from, to).execute(stream, from, to);
  stream.wait();
}

// `m` in the layout `desc`: `m` itself when the layouts agree, else a reordered copy in `buffer`.
memory InLayout(memory m, const memory::desc& desc, std::vector<uint8_t>& buffer) {
  if (m.get_desc() == desc) return m;
  buffer.resize(desc.get_size());
  memory out(desc, Engine(), buffer.data());
  Reorder(m, out);
  return out;
}

// The two maps from activations to activations, per batch chunk with the weights w: the forward
// (kind 'f', x -> y as SRC -> DST) and the data gradient (kind 'd', dy -> dx as DIFF_DST -> DIFF_SRC).
void ActivationMap(ffi::ThreadPool& pool, const Geometry& g, char kind, const float* w, const float* in,
                   float* out) {
  const bool fwd = kind == 'f';
  auto chunks = Split(g.src[0], pool);
  ParallelFor(pool, chunks.size(), [&](int i) {
    auto [begin, end] = chunks[i];
    auto gi = WithBatch(g, end - begin);
    auto c = Build(gi, kind);
    auto& eng = Engine();
    std::vector<uint8_t> w_buf;
    memory w_prim = InLayout(memory(c->wei_user, eng, const_cast<float*>(w)), c->wei_prim, w_buf);
    const memory::dims& in_dims = fwd ? gi.src : gi.dst;
    const memory::dims& out_dims = fwd ? gi.dst : gi.src;
    memory::desc act_in(in_dims, dt::f32, tag::nhwc), act_out(out_dims, dt::f32, tag::nhwc);
    Execute(c, {{fwd ? DNNL_ARG_SRC : DNNL_ARG_DIFF_DST,
                 memory(act_in, eng, const_cast<float*>(in) + begin * PerExample(in_dims))},
                {DNNL_ARG_WEIGHTS, w_prim},
                {fwd ? DNNL_ARG_DST : DNNL_ARG_DIFF_SRC, memory(act_out, eng, out + begin * PerExample(out_dims))}});
  });
}

ffi::Error Fwd(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w,
               ffi::ResultBuffer<ffi::F32> y, int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  return genjax::Guarded("genjax_conv_fwd", [&] {
    auto g = MakeGeometry(x.dimensions(), w.dimensions(), y->dimensions(), sh, sw, pt, pb, pl, pr);
    ActivationMap(pool, g, 'f', w.typed_data(), x.typed_data(), y->typed_data());
  });
}

ffi::Error BwdData(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> dy, ffi::Buffer<ffi::F32> w,
                   ffi::ResultBuffer<ffi::F32> dx, int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl,
                   int64_t pr) {
  return genjax::Guarded("genjax_conv_bwd_data", [&] {
    auto g = MakeGeometry(dx->dimensions(), w.dimensions(), dy.dimensions(), sh, sw, pt, pb, pl, pr);
    ActivationMap(pool, g, 'd', w.typed_data(), dy.typed_data(), dx->typed_data());
  });
}

ffi::Error BwdWeights(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> dy,
                      ffi::ResultBuffer<ffi::F32> dw, int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl,
                      int64_t pr) {
  return genjax::Guarded("genjax_conv_bwd_weights", [&] {
    auto g = MakeGeometry(x.dimensions(), dw->dimensions(), dy.dimensions(), sh, sw, pt, pb, pl, pr);
    auto chunks = Split(g.src[0], pool);
    const size_t count = dw->element_count();
    std::vector<float> partial(count * (chunks.size() - 1));  // chunk i > 0's HWIO dW; chunk 0 writes dw
    ParallelFor(pool, chunks.size(), [&](int i) {
      auto [begin, end] = chunks[i];
      auto gi = WithBatch(g, end - begin);
      auto c = Build(gi, 'w');
      auto& eng = Engine();
      memory user(c->wei_user, eng, i == 0 ? dw->typed_data() : partial.data() + (i - 1) * count);
      std::vector<uint8_t> buf;
      memory diff = InLayout(user, c->wei_prim, buf);  // where the primitive writes (contents unused)
      memory::desc act_x(gi.src, dt::f32, tag::nhwc), act_dy(gi.dst, dt::f32, tag::nhwc);
      Execute(c, {{DNNL_ARG_SRC, memory(act_x, eng, x.typed_data() + begin * PerExample(g.src))},
                  {DNNL_ARG_DIFF_DST, memory(act_dy, eng, dy.typed_data() + begin * PerExample(g.dst))},
                  {DNNL_ARG_DIFF_WEIGHTS, diff}});
      if (c->wei_prim != c->wei_user) Reorder(diff, user);
    });
    float* out = dw->typed_data();
    for (size_t i = 0; i + 1 < chunks.size(); ++i)
      for (size_t j = 0; j < count; ++j) out[j] += partial[i * count + j];
  });
}

// The three kernels' binding: the pool, two buffers in, one out, then the strides and paddings.
auto ConvBinding() {
  return genjax::PooledF32Binding<2, 1>()
      .Attr<int64_t>("stride_h")
      .Attr<int64_t>("stride_w")
      .Attr<int64_t>("pad_t")
      .Attr<int64_t>("pad_b")
      .Attr<int64_t>("pad_l")
      .Attr<int64_t>("pad_r");
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(GenjaxConvFwd, Fwd, ConvBinding());

XLA_FFI_DEFINE_HANDLER_SYMBOL(GenjaxConvBwdData, BwdData, ConvBinding());

XLA_FFI_DEFINE_HANDLER_SYMBOL(GenjaxConvBwdWeights, BwdWeights, ConvBinding());
