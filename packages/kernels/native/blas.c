/*
 * genlab_blas: a tiny N-API addon exposing the system BLAS's sgemm to JavaScript, called
 * directly on Float32Array views of TensorFlow.js's wasm heap (no copies). Built at install
 * time when a C compiler and OpenBLAS's headers are present; optional in every other way.
 * Also a one-pass Adam update on the same heap views (see src/native-adam.ts).
 */
#include <node_api.h>
#include <cblas.h>
#include <stdbool.h>
#include <math.h>

#define CHECK(call) do { if ((call) != napi_ok) { napi_throw_error(env, NULL, #call " failed"); return NULL; } } while (0)

static float *f32(napi_env env, napi_value v, size_t *length) {
  napi_typedarray_type type;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, length, &data, NULL, NULL) != napi_ok || type != napi_float32_array) return NULL;
  return (float *)data;
}

/* sgemm(transA, transB, M, N, K, A, B, C): C[M×N] = op(A)·op(B), row-major, C overwritten. */
static napi_value Sgemm(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value args[8];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc != 8) { napi_throw_type_error(env, NULL, "sgemm(transA, transB, M, N, K, A, B, C)"); return NULL; }
  bool ta, tb;
  int32_t M, N, K;
  CHECK(napi_get_value_bool(env, args[0], &ta));
  CHECK(napi_get_value_bool(env, args[1], &tb));
  CHECK(napi_get_value_int32(env, args[2], &M));
  CHECK(napi_get_value_int32(env, args[3], &N));
  CHECK(napi_get_value_int32(env, args[4], &K));
  size_t la, lb, lc;
  float *A = f32(env, args[5], &la), *B = f32(env, args[6], &lb), *C = f32(env, args[7], &lc);
  if (!A || !B || !C) { napi_throw_type_error(env, NULL, "A, B and C must be Float32Arrays"); return NULL; }
  if (M < 0 || N < 0 || K < 0 || la < (size_t)M * K || lb < (size_t)K * N || lc < (size_t)M * N) {
    napi_throw_range_error(env, NULL, "sgemm: array too small for M, N, K");
    return NULL;
  }
  if (M == 0 || N == 0) return NULL;
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f, A, ta ? M : K, B,
              tb ? K : N, 0.0f, C, N);
  return NULL;
}

/*
 * adam(P, G, M, V, P1, M1, V1, beta1, beta2, stepSize, epsHat): one Adam step in one pass,
 * in float32 with every operation rounded as the composite tfjs update rounds it (no
 * contraction into FMA: -ffp-contract=off), so the result is bit-identical to it:
 *   m1 = β1·m + (1−β1)·g;  v1 = β2·v + (1−β2)·g²;  p1 = p − (m1 / (√v1 + ε̂))·stepSize.
 */
static napi_value Adam(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value args[11];
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  if (argc != 11) { napi_throw_type_error(env, NULL, "adam(P, G, M, V, P1, M1, V1, beta1, beta2, stepSize, epsHat)"); return NULL; }
  size_t n[7];
  float *a[7];
  for (int k = 0; k < 7; k++) {
    a[k] = f32(env, args[k], &n[k]);
    if (!a[k]) { napi_throw_type_error(env, NULL, "adam: the first seven arguments must be Float32Arrays"); return NULL; }
    if (n[k] != n[0]) { napi_throw_range_error(env, NULL, "adam: arrays differ in length"); return NULL; }
  }
  double s[4];
  for (int k = 0; k < 4; k++) CHECK(napi_get_value_double(env, args[7 + k], &s[k]));
  /* The composite update multiplies by float32 scalars made from the same doubles. */
  const float b1 = (float)s[0], b2 = (float)s[1], c1 = (float)(1 - s[0]), c2 = (float)(1 - s[1]);
  const float step = (float)s[2], eps = (float)s[3];
  const float *restrict P = a[0], *restrict G = a[1], *restrict M = a[2], *restrict V = a[3];
  float *restrict P1 = a[4], *restrict M1 = a[5], *restrict V1 = a[6];
  for (size_t i = 0; i < n[0]; i++) {
    const float g = G[i];
    const float m = M[i] * b1 + g * c1;
    const float v = V[i] * b2 + (g * g) * c2;
    M1[i] = m;
    V1[i] = v;
    P1[i] = P[i] - (m / (sqrtf(v) + eps)) * step;
  }
  return NULL;
}

/* info(): the BLAS build string and its thread count. */
static napi_value Info(napi_env env, napi_callback_info info) {
  napi_value out, config, threads;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &config));
  CHECK(napi_create_int32(env, openblas_get_num_threads(), &threads));
  CHECK(napi_set_named_property(env, out, "config", config));
  CHECK(napi_set_named_property(env, out, "threads", threads));
  return out;
}

/* setThreads(n) */
static napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  int32_t n;
  CHECK(napi_get_cb_info(env, info, &argc, args, NULL, NULL));
  CHECK(napi_get_value_int32(env, args[0], &n));
  if (n > 0) openblas_set_num_threads(n);
  return NULL;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"sgemm", NULL, Sgemm, NULL, NULL, NULL, napi_default, NULL},
    {"info", NULL, Info, NULL, NULL, NULL, napi_default, NULL},
    {"setThreads", NULL, SetThreads, NULL, NULL, NULL, napi_default, NULL},
    {"adam", NULL, Adam, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK(napi_define_properties(env, exports, 4, props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
