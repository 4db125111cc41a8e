"""The integer coding engine (issue 36): quantized networks run with integer arithmetic only,
in numpy and numba, without torch.

* ``network``: a quantized logistic PixelCNN as integers (``IntegerLogisticPixelCNN``), its
  parallel pass over whole tiles (the encoder's) and its stepper along the wavefront (the
  decoder's), which give the same integers, bit for bit;
* ``kernels``: the compiled per-element work (requantization, gathers);
* ``wavefront``: the coding order shared with the float networks.

Exactness: every sum of products is an integer. The 8-bit layers' sums (codes up to 255 times
weights up to 127, at most 518 of them) stay below 2**24, so float32 BLAS adds them without
rounding, in any order, blocking or thread count; the 16-bit layers' sums go through float64
(below 2**53). Everything after a sum (bias, requantization, clamps, the mixture's tables) is
int64 arithmetic.
"""
