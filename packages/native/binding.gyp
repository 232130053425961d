{
  "targets": [
    {
      "target_name": "fedlink_native",
      "sources": ["src/addon.cc", "src/gemm.cc", "src/conv.cc", "src/conv_direct.cc", "src/conv_direct_avx2.cc", "src/conv_direct_avx512.cc", "src/conv_winograd.cc", "src/pool.cc", "src/pool_threads.cc", "src/update.cc", "src/sequential_step.cc", "src/peak.cc"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-O3", "-std=c++17", "-fno-math-errno"],
      "cflags": ["-O3"],
      "ldflags": ["-pthread"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
