{
  "target_defaults": {
    "cflags_cc": ["-O3", "-std=c++17", "-fno-math-errno"],
    "cflags_cc!": ["-fno-exceptions"],
    "cflags!": ["-fno-exceptions"]
  },
  "targets": [
    {
      "target_name": "kernels_scalar",
      "type": "static_library",
      "sources": ["src/kernels.cc", "src/smallconv.cc"],
      "defines": ["SPV_ISA=scalar", "SPV_VEC_BYTES=16"],
      "cflags_cc": ["-fPIC"]
    },
    {
      "target_name": "kernels_avx2",
      "type": "static_library",
      "sources": ["src/kernels.cc", "src/smallconv.cc"],
      "defines": ["SPV_ISA=avx2", "SPV_VEC_BYTES=32"],
      "cflags_cc": ["-fPIC", "-mavx2", "-mfma"]
    },
    {
      "target_name": "kernels_avx512",
      "type": "static_library",
      "sources": ["src/kernels.cc", "src/smallconv.cc"],
      "defines": ["SPV_ISA=avx512", "SPV_VEC_BYTES=64"],
      "cflags_cc": ["-fPIC", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx2", "-mfma", "-mprefer-vector-width=512"]
    },
    {
      "target_name": "spikevae_native",
      "sources": ["src/addon.cc", "src/lif.cc", "src/plif.cc", "src/pool.cc", "src/norm.cc", "src/optim.cc", "src/scratch.cc"],
      "dependencies": ["kernels_scalar", "kernels_avx2", "kernels_avx512"],
      "cflags_cc": ["-ffp-contract=off"],
      "libraries": ["-lpthread"]
    }
  ]
}
