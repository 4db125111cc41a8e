"""The integer coding engine (issue 36): quantized networks run with integer arithmetic only,
in numpy and numba, without torch.

* ``config``: an integer model's configuration and the tensors its file must hold, checked
  before anything is built;
* ``network``: the quantized logistic PixelCNN as integers (``IntegerLogisticPixelCNN``): its
  parallel pass over whole tiles (the encoder's) and its stepper along the wavefront (the
  decoder's, compiled whole over a round's steps), one code path that gives the same
  integers either way;
* ``ring``: the residual blocks' spatial inputs in the decoder's walk, rings of the last few
  steps;
* ``kernels``: the compiled per-element work, the residual block and the network's tail
  (requantization, gathers, the predictors' guesses, BLAS products through numba);
* ``vnni``: the residual blocks' 8-bit products on the CPU's dot-product unit (AVX-512 VNNI),
  where it has one;
* ``mixture``: the logistic mixture's exact integer arithmetic (shared with the float64
  path) and the coder's CDF, evaluated at one bin edge at a time;
* ``online``: coder 4's online stage, each symbol's mixture corrected by what the tile's
  earlier symbols got wrong in similar contexts (bias and scale), in int64 on both sides;
* ``rans``: the entropy coder of these models (coder 3 of docs/FORMAT.md), decoding by a
  search from where the likeliest component's CDF reaches the state's value;
* ``coding``: tiles <-> streams;
* ``wavefront``: the coding order, shared with the float networks.

Exactness: every sum of products is an integer. The 8-bit layers' sums (codes up to 255 times
weights up to 127, at most 518 of them) stay below 2**24, so float32 BLAS adds them without
rounding, in any order, blocking or thread count; the 16-bit layers' sums go through float64
(below 2**53). On a CPU with AVX-512 VNNI the blocks' products are int32 sums of uint8 times
int8 (``vnni``): the same integers, three times faster. Everything after a sum (bias, requantization, clamps, the mixture's CDF) is
int64 arithmetic.
"""
