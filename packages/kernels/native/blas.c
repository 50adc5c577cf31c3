/*
 * genlab_blas: a tiny N-API addon exposing the system BLAS's sgemm to JavaScript, called
 * directly on Float32Array views of TensorFlow.js's wasm heap (no copies). Built at install
 * time when a C compiler and OpenBLAS's headers are present; optional in every other way.
 */
#include <node_api.h>
#include <cblas.h>
#include <stdbool.h>

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
  };
  CHECK(napi_define_properties(env, exports, 3, props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
