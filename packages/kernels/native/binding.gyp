{
  "targets": [
    {
      "target_name": "genlab_blas",
      "sources": ["blas.c"],
      "cflags": ["-O2"],
      "libraries": ["-lopenblas"]
    }
  ]
}
