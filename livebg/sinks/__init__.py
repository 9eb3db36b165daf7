"""Where composited frames go: virtual camera, recorder, preview, or nowhere (benchmarks)."""
