// Group normalisation with a fused per-(example, channel) input bias, scale/shift and SiLU, as XLA
// FFI kernels. Every example is one work item: its [N, C] slice stays in cache across the passes.
//
//   u = x + p,  mu_g, var_g over (n, c in g) of u,  xhat = (u - mu) rstd,  rstd = (var + eps)^-1/2
//   z = xhat * gamma + beta,  y = act(z)   (act: identity or silu(z) = z sigmoid(z))
//
// Backward (dy -> dx = du, dp, dgamma, dbeta), with M = N * C / G elements per group:
//   dz = dy act'(z),  dbeta_c = sum_n dz,  dgamma_c = sum_n dz xhat
//   du = rstd (dz gamma - mean_g(dz gamma) - xhat mean_g(dz gamma xhat)),  dp_c = sum_n du
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "onednn_common.h"

namespace {

namespace ffi = xla::ffi;

// exp(x) for the loops below: 2^k 2^f with a degree-6 polynomial for 2^f, |f| <= 1/2 (relative
// error ~1e-7), written so that the compiler vectorises it (built with -fno-trapping-math).
inline float Exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float t = x * 1.44269504088896341f;
  const int k = static_cast<int>(t + (t >= 0.0f ? 0.5f : -0.5f));
  const float f = (t - static_cast<float>(k)) * 0.693147180559945309f;
  const float p = 1.0f + f * (1.0f + f * (0.5f + f * (1.0f / 6 + f * (1.0f / 24 + f * (1.0f / 120 + f * (1.0f / 720))))));
  const int bits = (k + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline float Sigmoid(float z) { return 1.0f / (1.0f + Exp(-z)); }

struct Shape {
  int64_t batch, n, c, groups;
  int act;  // 0: identity, 1: silu
  float eps;
  int64_t per_group() const { return c / groups; }
};

// Per example: a_c = rstd_g gamma_c and s_c = beta_c + (p_c - mu_g) a_c, so that z = x a + s.
void Coefficients(const Shape& s, const float* p, const float* gamma, const float* beta, const float* mu,
                  const float* rstd, float* a, float* shift) {
  for (int64_t c = 0; c < s.c; ++c) {
    const int64_t g = c / s.per_group();
    a[c] = rstd[g] * gamma[c];
    shift[c] = beta[c] + (p[c] - mu[g]) * a[c];
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void ForwardExample(const Shape& s, const float* x, const float* p, const float* gamma, const float* beta, float* y,
                    float* mu, float* rstd) {
  const int64_t n = s.n, cn = s.c, cg = s.per_group();
  std::vector<float> sum(cn, 0.0f), mu_c(cn), a(cn), shift(cn);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < cn; ++c) sum[c] += x[i * cn + c];
  const float inv_m = 1.0f / static_cast<float>(n * cg);
  for (int64_t g = 0; g < s.groups; ++g) {
    float t = 0.0f;
    for (int64_t c = g * cg; c < (g + 1) * cg; ++c) t += sum[c] + n * p[c];
    mu[g] = t * inv_m;
    for (int64_t c = g * cg; c < (g + 1) * cg; ++c) mu_c[c] = mu[g] - p[c];  // the mean of x's part
  }
  std::fill(sum.begin(), sum.end(), 0.0f);  // second pass: the variance about the mean, exact
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < cn; ++c) {
      const float d = x[i * cn + c] - mu_c[c];
      sum[c] += d * d;
    }
  for (int64_t g = 0; g < s.groups; ++g) {
    float t = 0.0f;
    for (int64_t c = g * cg; c < (g + 1) * cg; ++c) t += sum[c];
    rstd[g] = 1.0f / std::sqrt(t * inv_m + s.eps);
  }
  Coefficients(s, p, gamma, beta, mu, rstd, a.data(), shift.data());
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * cn;
    float* yi = y + i * cn;
    if (s.act == 1) {
      for (int64_t c = 0; c < cn; ++c) {
        const float z = xi[c] * a[c] + shift[c];
        yi[c] = z * Sigmoid(z);
      }
    } else {
      for (int64_t c = 0; c < cn; ++c) yi[c] = xi[c] * a[c] + shift[c];
    }
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void BackwardExample(const Shape& s, const float* x, const float* p, const float* gamma, const float* beta,
                     const float* mu, const float* rstd, const float* dy, float* dx, float* dp, float* dgamma,
                     float* dbeta) {
  const int64_t n = s.n, cn = s.c, cg = s.per_group();
  std::vector<float> a(cn), shift(cn), r(cn), q(cn), mean_d(cn), mean_dx(cn);
  Coefficients(s, p, gamma, beta, mu, rstd, a.data(), shift.data());
  for (int64_t c = 0; c < cn; ++c) {  // xhat = x r + q
    const int64_t g = c / cg;
    r[c] = rstd[g];
    q[c] = (p[c] - mu[g]) * rstd[g];
    dbeta[c] = dgamma[c] = dp[c] = 0.0f;
  }
  for (int64_t i = 0; i < n; ++i) {  // dz (kept in dx), dbeta, dgamma
    const float* xi = x + i * cn;
    const float* dyi = dy + i * cn;
    float* dzi = dx + i * cn;
    if (s.act == 1) {
      for (int64_t c = 0; c < cn; ++c) {
        const float z = xi[c] * a[c] + shift[c];
        const float sg = Sigmoid(z);
        dzi[c] = dyi[c] * sg * (1.0f + z * (1.0f - sg));
      }
    } else {
      for (int64_t c = 0; c < cn; ++c) dzi[c] = dyi[c];
    }
    for (int64_t c = 0; c < cn; ++c) {
      dbeta[c] += dzi[c];
      dgamma[c] += dzi[c] * (xi[c] * r[c] + q[c]);
    }
  }
  const float inv_m = 1.0f / static_cast<float>(n * cg);
  for (int64_t g = 0; g < s.groups; ++g) {  // mean_g(dz gamma), mean_g(dz gamma xhat)
    float t1 = 0.0f, t2 = 0.0f;
    for (int64_t c = g * cg; c < (g + 1) * cg; ++c) {
      t1 += gamma[c] * dbeta[c];
      t2 += gamma[c] * dgamma[c];
    }
    for (int64_t c = g * cg; c < (g + 1) * cg; ++c) {
      mean_d[c] = t1 * inv_m;
      mean_dx[c] = t2 * inv_m;
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * cn;
    float* dxi = dx + i * cn;
    for (int64_t c = 0; c < cn; ++c) {
      const float xhat = xi[c] * r[c] + q[c];
      const float du = r[c] * (dxi[c] * gamma[c] - mean_d[c] - xhat * mean_dx[c]);
      dxi[c] = du;
      dp[c] += du;
    }
  }
}

Shape ShapeOf(const ffi::Buffer<ffi::F32>& x, int64_t groups, int64_t act, float eps) {
  auto d = x.dimensions();
  if (d.size() != 3) throw std::invalid_argument("x must be [B, N, C]");
  if (groups < 1 || d[2] % groups) throw std::invalid_argument("channels not divisible into groups");
  return Shape{d[0], d[1], d[2], groups, static_cast<int>(act), eps};
}

ffi::Error Fwd(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> p, ffi::Buffer<ffi::F32> gamma,
               ffi::Buffer<ffi::F32> beta, ffi::ResultBuffer<ffi::F32> y, ffi::ResultBuffer<ffi::F32> mu,
               ffi::ResultBuffer<ffi::F32> rstd, int64_t groups, int64_t act, float eps) {
  return genjax::Guarded("genjax_group_norm_fwd", [&] {
    const Shape s = ShapeOf(x, groups, act, eps);
    genjax::ParallelFor(pool, static_cast<int>(s.batch), [&](int b) {
      const int64_t bc = b * s.c, bg = b * s.groups, bx = b * s.n * s.c;
      ForwardExample(s, x.typed_data() + bx, p.typed_data() + bc, gamma.typed_data() + bc,
                     beta.typed_data() + bc, y->typed_data() + bx, mu->typed_data() + bg, rstd->typed_data() + bg);
    });
  });
}

ffi::Error Bwd(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> p, ffi::Buffer<ffi::F32> gamma,
               ffi::Buffer<ffi::F32> beta, ffi::Buffer<ffi::F32> mu, ffi::Buffer<ffi::F32> rstd,
               ffi::Buffer<ffi::F32> dy, ffi::ResultBuffer<ffi::F32> dx, ffi::ResultBuffer<ffi::F32> dp,
               ffi::ResultBuffer<ffi::F32> dgamma, ffi::ResultBuffer<ffi::F32> dbeta, int64_t groups, int64_t act,
               float eps) {
  return genjax::Guarded("genjax_group_norm_bwd", [&] {
    const Shape s = ShapeOf(x, groups, act, eps);
    genjax::ParallelFor(pool, static_cast<int>(s.batch), [&](int b) {
      const int64_t bc = b * s.c, bg = b * s.groups, bx = b * s.n * s.c;
      BackwardExample(s, x.typed_data() + bx, p.typed_data() + bc, gamma.typed_data() + bc, beta.typed_data() + bc,
                      mu.typed_data() + bg, rstd.typed_data() + bg, dy.typed_data() + bx, dx->typed_data() + bx,
                      dp->typed_data() + bc, dgamma->typed_data() + bc, dbeta->typed_data() + bc);
    });
  });
}

// Fwd and Bwd's binding: the pool, kArgs buffers in, kRets out, and the groups/act/eps attributes.
template <int kArgs, int kRets>
auto GroupNormBinding() {
  return genjax::PooledF32Binding<kArgs, kRets>()
      .template Attr<int64_t>("groups")
      .template Attr<int64_t>("act")
      .template Attr<float>("eps");
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(GenjaxGroupNormFwd, Fwd, (GroupNormBinding<4, 3>()));

XLA_FFI_DEFINE_HANDLER_SYMBOL(GenjaxGroupNormBwd, Bwd, (GroupNormBinding<7, 4>()));
