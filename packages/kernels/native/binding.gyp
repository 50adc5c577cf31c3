{
  "targets": [
    {
      "target_name": "genlab_blas",
      "sources": ["blas.c"],
      "cflags": ["-O2", "-ffp-contract=off", "-fno-math-errno"],
      "libraries": ["-lopenblas"]
    }
  ]
}
