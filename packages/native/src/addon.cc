// Node-API surface of the native kernels. Every function is synchronous (tfjs kernels are), takes
// Float32Arrays the caller owns plus integer geometry, checks that each array is long enough, and
// writes its result into the output array. Big kernels spread over the addon's thread pool.
#include <node_api.h>
#include <cstdint>
#include <string>
#include <utility>
#include <thread>
#include <vector>
#include "kernels.h"

namespace {

struct Fail {
  std::string msg;
  bool range;
};

napi_value throw_and_null(napi_env env, const Fail& f) {
  if (f.range) napi_throw_range_error(env, nullptr, f.msg.c_str());
  else napi_throw_type_error(env, nullptr, f.msg.c_str());
  return nullptr;
}

void args(napi_env env, napi_callback_info info, size_t want, napi_value* out) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, out, nullptr, nullptr);
  if (argc < want) throw Fail{"fedlink native: expected " + std::to_string(want) + " arguments", false};
}

bool is_null(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t == napi_null || t == napi_undefined;
}

// A Float32Array's data with at least `need` elements.
float* f32(napi_env env, napi_value v, double need, const char* what) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  if (!is) throw Fail{std::string("fedlink native: ") + what + " must be a Float32Array", false};
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr);
  if (type != napi_float32_array) throw Fail{std::string("fedlink native: ") + what + " must be a Float32Array", false};
  if (static_cast<double>(length) < need)
    throw Fail{std::string("fedlink native: ") + what + " has " + std::to_string(length) + " elements, needs " +
                   std::to_string(static_cast<long long>(need)),
               true};
  return static_cast<float*>(data);
}

// A typed array's element count, 0 for anything else (the typed checks come after).
size_t typed_length(napi_env env, napi_value v) {
  bool is = false;
  size_t n = 0;
  napi_is_typedarray(env, v, &is);
  if (is) napi_get_typedarray_info(env, v, nullptr, &n, nullptr, nullptr, nullptr);
  return n;
}

double number(napi_env env, napi_value v, const char* what) {
  double out;
  if (napi_get_value_double(env, v, &out) != napi_ok) throw Fail{std::string("fedlink native: ") + what + " must be a number", false};
  return out;
}

int i32(napi_env env, napi_value v) {
  int32_t out;
  if (napi_get_value_int32(env, v, &out) != napi_ok) throw Fail{"fedlink native: expected an integer", false};
  return out;
}

bool boolean(napi_env env, napi_value v) {
  bool out = false;
  napi_value b;
  napi_coerce_to_bool(env, v, &b);
  napi_get_value_bool(env, b, &out);
  return out;
}

std::string utf8(napi_env env, napi_value v, const char* what) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &length) != napi_ok)
    throw Fail{std::string("fedlink native: ") + what + " must be a string", false};
  std::string out(length, '\0');
  napi_get_value_string_utf8(env, v, out.data(), length + 1, &length);
  return out;
}

// An Int32Array of exactly n non-negative ints.
const int32_t* dims(napi_env env, napi_value v, size_t n) {
  bool is = false;
  napi_is_typedarray(env, v, &is);
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (is) napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr);
  if (!is || type != napi_int32_array || length != n)
    throw Fail{"fedlink native: dims must be an Int32Array of " + std::to_string(n), false};
  const int32_t* d = static_cast<const int32_t*>(data);
  for (size_t i = 0; i < n; i++)
    if (d[i] < 0) throw Fail{"fedlink native: negative dimension", true};
  return d;
}

template <typename F>
napi_value guarded(napi_env env, F&& body) {
  try {
    return body();
  } catch (const Fail& f) {
    return throw_and_null(env, f);
  }
}

napi_value undef(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// matmul(a, b, c, bias|null, relu, batch, aBatchStride, bBatchStride, m, n, k, transA, transB)
napi_value Matmul(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value v[13];
    args(env, info, 13, v);
    int batch = i32(env, v[5]), as = i32(env, v[6]), bs = i32(env, v[7]);
    int m = i32(env, v[8]), n = i32(env, v[9]), k = i32(env, v[10]);
    bool ta = boolean(env, v[11]), tb = boolean(env, v[12]), relu = boolean(env, v[4]);
    if (batch < 0 || m < 0 || n < 0 || k < 0 || as < 0 || bs < 0) throw Fail{"fedlink native: negative size", true};
    double last = batch > 0 ? batch - 1.0 : 0.0;
    const float* a = f32(env, v[0], last * as + 1.0 * m * k, "a");
    const float* b = f32(env, v[1], last * bs + 1.0 * k * n, "b");
    float* c = f32(env, v[2], 1.0 * batch * m * n, "c");
    const float* bias = is_null(env, v[3]) ? nullptr : f32(env, v[3], n, "bias");
    long ars = ta ? 1 : k, acs = ta ? m : 1, brs = tb ? 1 : n, bcs = tb ? k : 1;
    if (batch > 1 && 2.0 * m * n * k < 4e5) {
      fl::parallel_for(batch, [&](int i) {
        fl::gemm(m, n, k, a + static_cast<long>(i) * as, ars, acs, b + static_cast<long>(i) * bs, brs, bcs,
                 c + static_cast<long>(i) * m * n, n, false);
      });
    } else {
      for (int i = 0; i < batch; i++)
        fl::gemm_parallel(m, n, k, a + static_cast<long>(i) * as, ars, acs, b + static_cast<long>(i) * bs, brs, bcs,
                          c + static_cast<long>(i) * m * n, n);
    }
    fl::bias_act(c, batch * m, n, bias, relu);
    return undef(env);
  });
}

fl::ConvDims conv_dims(napi_env env, napi_value v) {
  const int32_t* d = dims(env, v, 15);
  fl::ConvDims c{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14]};
  if (c.strideH < 1 || c.strideW < 1 || c.dilH < 1 || c.dilW < 1) throw Fail{"fedlink native: stride/dilation < 1", true};
  return c;
}
double in_size(const fl::ConvDims& d) { return 1.0 * d.batch * d.inH * d.inW * d.inC; }
double out_size(const fl::ConvDims& d) { return 1.0 * d.batch * d.outH * d.outW * d.outC; }
double w_size(const fl::ConvDims& d) { return 1.0 * d.fH * d.fW * d.inC * d.outC; }

// conv2dForward(x, w, y, bias|null, relu, dims)
napi_value Conv2dForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value v[6];
    args(env, info, 6, v);
    fl::ConvDims d = conv_dims(env, v[5]);
    const float* x = f32(env, v[0], in_size(d), "x");
    const float* w = f32(env, v[1], w_size(d), "filter");
    float* y = f32(env, v[2], out_size(d), "y");
    const float* bias = is_null(env, v[3]) ? nullptr : f32(env, v[3], d.outC, "bias");
    fl::conv2d_forward(d, x, w, y, bias, boolean(env, v[4]));
    return undef(env);
  });
}

// conv2dBackpropInput(dy, w, dx, dims)
napi_value Conv2dBackpropInput(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value v[4];
    args(env, info, 4, v);
    fl::ConvDims d = conv_dims(env, v[3]);
    fl::conv2d_backprop_input(d, f32(env, v[0], out_size(d), "dy"), f32(env, v[1], w_size(d), "filter"),
                              f32(env, v[2], in_size(d), "dx"));
    return undef(env);
  });
}

// conv2dPaths(dims) -> { forward, filter, input }: 'winograd' | 'direct' | 'im2col' on the ISA in use.
napi_value Conv2dPaths(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value v[1];
    args(env, info, 1, v);
    fl::ConvDims d = conv_dims(env, v[0]);
    napi_value out, s;
    napi_create_object(env, &out);
    const std::pair<const char*, fl::ConvPath> paths[] = {{"forward", fl::conv2d_forward_path(d)},
                                                          {"filter", fl::conv2d_backprop_filter_path(d)},
                                                          {"input", fl::conv2d_backprop_input_path(d)}};
    for (const auto& [name, path] : paths) {
      napi_create_string_utf8(env, fl::conv_path_name(path), NAPI_AUTO_LENGTH, &s);
      napi_set_named_property(env, out, name, s);
    }
    return out;
  });
}

// conv2dBackpropFilter(x, dy, dw, dims)
napi_value Conv2dBackpropFilter(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value v[4];
    args(env, info, 4, v);
    fl::ConvDims d = conv_dims(env, v[3]);
    fl::conv2d_backprop_filter(d, f32(env, v[0], in_size(d), "x"), f32(env, v[1], out_size(d), "dy"),
                               f32(env, v[2], w_size(d), "dw"));
    return undef(env);
  });
}

fl::PoolDims pool_dims(napi_env env, napi_value v) {
  const int32_t* d = dims(env, v, 12);
  fl::PoolDims p{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11]};
  if (p.strideH < 1 || p.strideW < 1) throw Fail{"fedlink native: stride < 1", true};
  return p;
}

// maxpoolForward(x, y, dims)
napi_value MaxpoolForward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value v[3];
    args(env, info, 3, v);
    fl::PoolDims d = pool_dims(env, v[2]);
    fl::maxpool_forward(d, f32(env, v[0], 1.0 * d.batch * d.inH * d.inW * d.ch, "x"),
                        f32(env, v[1], 1.0 * d.batch * d.outH * d.outW * d.ch, "y"));
    return undef(env);
  });
}

// maxpoolBackward(dy, x, dx, dims)
napi_value MaxpoolBackward(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value v[4];
    args(env, info, 4, v);
    fl::PoolDims d = pool_dims(env, v[3]);
    double in = 1.0 * d.batch * d.inH * d.inW * d.ch;
    fl::maxpool_backward(d, f32(env, v[0], 1.0 * d.batch * d.outH * d.outW * d.ch, "dy"), f32(env, v[1], in, "x"),
                         f32(env, v[2], in, "dx"));
    return undef(env);
  });
}

// sgdUpdate(value, gradient, out, c): out = c * gradient + value, all of value's length.
napi_value SgdUpdate(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value v[4];
    args(env, info, 4, v);
    const size_t n = typed_length(env, v[0]);
    const float* value = f32(env, v[0], 0, "value");
    const float* grad = f32(env, v[1], static_cast<double>(n), "gradient");
    float* out = f32(env, v[2], static_cast<double>(n), "out");
    const double c = number(env, v[3], "c");
    fl::sgd_update(value, grad, out, static_cast<long>(n), static_cast<float>(c));
    return undef(env);
  });
}

// The Float32Arrays of a JS array of `count`, each with at least need[i] elements.
std::vector<float*> f32_list(napi_env env, napi_value list, size_t count, const std::vector<double>& need, const char* what) {
  bool is = false;
  napi_is_array(env, list, &is);
  uint32_t length = 0;
  if (is) napi_get_array_length(env, list, &length);
  if (!is || length != count) throw Fail{std::string("fedlink native: ") + what + " must be an array of " + std::to_string(count) + " Float32Arrays", false};
  std::vector<float*> out(count);
  for (uint32_t i = 0; i < length; i++) {
    napi_value item;
    napi_get_element(env, list, i, &item);
    out[i] = f32(env, item, need[i], what);
  }
  return out;
}

// sequentialSgdStep(x, y, layers Int32Array(32 per layer), weights[], biases[], newWeights[],
//                   newBiases[], batch, c) -> [mean loss, hits]. A layer's 32 ints: kind (0 dense,
// 1 conv, 2 max-pool), relu, din, dout, the 15 conv dims (conv2dForward's), the 12 pool dims
// (maxpoolForward's), one unused. Weights and biases: one of each per dense or conv layer, in order.
napi_value SequentialSgdStep(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value v[9];
    args(env, info, 9, v);
    const size_t len = typed_length(env, v[2]);
    if (len == 0 || len % 32 != 0) throw Fail{"fedlink native: layers must be an Int32Array of 32 entries a layer", false};
    const int count = static_cast<int>(len / 32);
    const int32_t* d = dims(env, v[2], len);
    const int batch = i32(env, v[7]);
    if (batch < 1) throw Fail{"fedlink native: batch must be at least 1", true};
    const double c = number(env, v[8], "c");
    std::vector<fl::SeqLayer> layers(count);
    std::vector<double> wsize, bsize;
    long in_size = 0, prev_out = 0;
    for (int l = 0; l < count; l++) {
      const int32_t* e = d + 32 * l;
      fl::SeqLayer& k = layers[l];
      k.kind = e[0], k.relu = e[1] != 0, k.din = e[2], k.dout = e[3];
      k.conv = {e[4], e[5], e[6], e[7], e[8], e[9], e[10], e[11], e[12], e[13], e[14], e[15], e[16], e[17], e[18]};
      k.pool = {e[19], e[20], e[21], e[22], e[23], e[24], e[25], e[26], e[27], e[28], e[29], e[30]};
      long in = 0;
      if (k.kind == fl::SeqLayer::DENSE) {
        if (k.din < 1 || k.dout < 1) throw Fail{"fedlink native: a dense layer needs din and dout >= 1", true};
        in = 1L * batch * k.din, k.out_size = 1L * batch * k.dout;
        wsize.push_back(1.0 * k.din * k.dout), bsize.push_back(k.dout);
      } else if (k.kind == fl::SeqLayer::CONV) {
        const fl::ConvDims& g = k.conv;
        if (g.batch != batch || g.strideH < 1 || g.strideW < 1 || g.dilH < 1 || g.dilW < 1 || g.outC < 1 || g.inC < 1)
          throw Fail{"fedlink native: bad conv geometry", true};
        in = 1L * batch * g.inH * g.inW * g.inC, k.out_size = 1L * batch * g.outH * g.outW * g.outC;
        wsize.push_back(1.0 * g.fH * g.fW * g.inC * g.outC), bsize.push_back(g.outC);
      } else if (k.kind == fl::SeqLayer::POOL) {
        const fl::PoolDims& p = k.pool;
        if (p.batch != batch || p.strideH < 1 || p.strideW < 1 || k.relu) throw Fail{"fedlink native: bad pool geometry", true};
        in = 1L * batch * p.inH * p.inW * p.ch, k.out_size = 1L * batch * p.outH * p.outW * p.ch;
      } else {
        throw Fail{"fedlink native: layer kind must be 0 (dense), 1 (conv) or 2 (max-pool)", true};
      }
      if (k.out_size < 1) throw Fail{"fedlink native: a layer with no output", true};
      if (l == 0) in_size = in;
      else if (in != prev_out) throw Fail{"fedlink native: layer " + std::to_string(l) + " takes " + std::to_string(in) + " values, the layer before gives " + std::to_string(prev_out), true};
      prev_out = k.out_size;
    }
    const fl::SeqLayer& last = layers[count - 1];
    if (last.kind != fl::SeqLayer::DENSE || last.relu) throw Fail{"fedlink native: the last layer gives the logits: dense, no relu", true};
    const float* x = f32(env, v[0], static_cast<double>(in_size), "x");
    const float* y = f32(env, v[1], 1.0 * batch * last.dout, "y");
    const size_t params = wsize.size();
    std::vector<float*> w = f32_list(env, v[3], params, wsize, "weights");
    std::vector<float*> b = f32_list(env, v[4], params, bsize, "biases");
    std::vector<float*> wo = f32_list(env, v[5], params, wsize, "newWeights");
    std::vector<float*> bo = f32_list(env, v[6], params, bsize, "newBiases");
    for (int l = 0, p = 0; l < count; l++) {
      if (layers[l].kind == fl::SeqLayer::POOL) continue;
      layers[l].w = w[p], layers[l].b = b[p], layers[l].w_out = wo[p], layers[l].b_out = bo[p];
      p++;
    }
    fl::SeqStep step{batch, count, last.dout, layers.data(), x, in_size, y, static_cast<float>(c)};
    fl::StepResult r = fl::sequential_sgd_step(step);
    napi_value out, loss, hits;
    napi_create_array_with_length(env, 2, &out);
    napi_create_double(env, r.loss, &loss);
    napi_create_int32(env, r.hits, &hits);
    napi_set_element(env, out, 0, loss);
    napi_set_element(env, out, 1, hits);
    return out;
  });
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value v[1];
    args(env, info, 1, v);
    fl::set_pool_threads(i32(env, v[0]));
    return undef(env);
  });
}

napi_value Threads(napi_env env, napi_callback_info) {
  napi_value out;
  napi_create_int32(env, fl::pool_threads(), &out);
  return out;
}

napi_value ScratchBytes(napi_env env, napi_callback_info) {
  napi_value out;
  napi_create_double(env, static_cast<double>(fl::scratch_bytes()), &out);
  return out;
}

napi_value Isa(napi_env env, napi_callback_info) {
  napi_value out;
  napi_create_string_utf8(env, fl::gemm_isa(), NAPI_AUTO_LENGTH, &out);
  return out;
}

napi_value FmaPeakGflops(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value v[1];
    args(env, info, 1, v);
    const double ms = number(env, v[0], "ms");
    if (!(ms > 0 && ms <= 60000)) throw Fail{"fedlink native: fmaPeakGflops takes milliseconds in (0, 60000]", true};
    napi_value out;
    napi_create_double(env, fl::fma_peak_gflops(ms), &out);
    return out;
  });
}

napi_value Isas(napi_env env, napi_callback_info) {
  const std::vector<const char*> isas = fl::gemm_isas();
  napi_value out;
  napi_create_array_with_length(env, isas.size(), &out);
  for (size_t i = 0; i < isas.size(); i++) {
    napi_value name;
    napi_create_string_utf8(env, isas[i], NAPI_AUTO_LENGTH, &name);
    napi_set_element(env, out, static_cast<uint32_t>(i), name);
  }
  return out;
}

napi_value UseIsa(napi_env env, napi_callback_info info) {
  return guarded(env, [&] {
    napi_value v[1];
    args(env, info, 1, v);
    const std::string name = utf8(env, v[0], "isa");
    if (!fl::use_isa(name)) {
      std::string can = "auto";
      for (const char* isa : fl::gemm_isas()) can += std::string(", ") + isa;
      throw Fail{"fedlink native: this CPU can't run isa '" + name + "' (it can: " + can + ")", true};
    }
    return undef(env);
  });
}

napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"matmul", nullptr, Matmul, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dForward", nullptr, Conv2dForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dPaths", nullptr, Conv2dPaths, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dBackpropInput", nullptr, Conv2dBackpropInput, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dBackpropFilter", nullptr, Conv2dBackpropFilter, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"maxpoolForward", nullptr, MaxpoolForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"maxpoolBackward", nullptr, MaxpoolBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sgdUpdate", nullptr, SgdUpdate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sequentialSgdStep", nullptr, SequentialSgdStep, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"threads", nullptr, Threads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"scratchBytes", nullptr, ScratchBytes, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"isa", nullptr, Isa, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"fmaPeakGflops", nullptr, FmaPeakGflops, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"isas", nullptr, Isas, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"useIsa", nullptr, UseIsa, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
