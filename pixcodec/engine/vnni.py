"""8-bit products on the CPU's integer dot-product unit (AVX-512 VNNI): ``vpdpbusd`` adds, into
each of 16 int32 lanes, four products of unsigned 8-bit by signed 8-bit values, 64 products an
instruction where float32 FMA does 16. The residual blocks' layers are exactly such products
(8-bit codes of ReLU'd values times 8-bit weights), so their int32 sums are the same integers
as the float32 BLAS path gives (both exact): only the speed differs (3x at a decode step here).

numba has no vector types, so the loop is written in LLVM IR (llvmlite, numba's own backend)
and called as an intrinsic from compiled code. It is compiled only where the CPU has the
instructions (``AVAILABLE``); elsewhere the engine keeps BLAS. ``PIXCODEC_KERNELS=blas`` in the
environment turns it off, to compare the two paths or to rule it out.
"""
from __future__ import annotations

import os

import numba
import numpy as np
from llvmlite import binding, ir
from numba import types
from numba.core.extending import intrinsic

LANES = 16  # int32 outputs a 512-bit register holds
GROUP = 4   # 8-bit inputs each lane sums per instruction
ROWS = 4    # positions a call runs at once: independent sums that hide the instruction's latency


def _host_has_vnni() -> bool:
    if os.environ.get("PIXCODEC_KERNELS", "").lower() == "blas":
        return False
    features = binding.get_host_cpu_features()
    return all(features.get(name, False) for name in ("avx512f", "avx512bw", "avx512vnni"))


AVAILABLE = _host_has_vnni()

_I8, _I32, _I64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
_VECTOR = ir.VectorType(_I32, LANES)


def _dot_rows(rows: int):
    """An intrinsic: out[r, 0:16] = sum over g < groups of the 4-byte groups of x at row r
    times the packed weights' 64 bytes of group g (``pack``), for `rows` rows at once."""

    @intrinsic
    def dot_rows(typingctx, x, x_start, x_stride, w, w_start, groups, out, out_start,
                 out_stride):
        signature = types.void(x, x_start, x_stride, w, w_start, groups, out, out_start,
                               out_stride)

        def codegen(context, builder, sig, args):
            x, x_start, x_stride, w, w_start, groups, out, out_start, out_stride = args
            data = [builder.bitcast(context.make_array(sig.args[i])(context, builder, a).data,
                                    kind.as_pointer())
                    for i, a, kind in ((0, x, _I8), (3, w, _I8), (6, out, _I32))]
            x_data, w_data, out_data = data
            dpbusd = builder.module.declare_intrinsic(
                "llvm.x86.avx512.vpdpbusd.512",
                fnty=ir.FunctionType(_VECTOR, [_VECTOR, _VECTOR, _VECTOR]))
            entry = builder.basic_block
            loop, done = builder.append_basic_block("dot"), builder.append_basic_block("dot_end")
            builder.branch(loop)
            builder.position_at_end(loop)
            g = builder.phi(_I64)
            g.add_incoming(ir.Constant(_I64, 0), entry)
            sums = []
            for _ in range(rows):
                s = builder.phi(_VECTOR)
                s.add_incoming(ir.Constant(_VECTOR, None), entry)
                sums.append(s)
            at = builder.add(w_start, builder.mul(g, ir.Constant(_I64, LANES * GROUP)))
            weights = builder.load(builder.bitcast(builder.gep(w_data, [at]),
                                                   _VECTOR.as_pointer()), align=1)
            first = builder.add(x_start, builder.mul(g, ir.Constant(_I64, GROUP)))
            updated = []
            for r in range(rows):
                at = builder.add(first, builder.mul(ir.Constant(_I64, r), x_stride))
                four = builder.load(builder.bitcast(builder.gep(x_data, [at]),
                                                    _I32.as_pointer()), align=1)
                spread = builder.shuffle_vector(
                    builder.insert_element(ir.Constant(_VECTOR, ir.Undefined), four,
                                           ir.Constant(_I32, 0)),
                    ir.Constant(_VECTOR, ir.Undefined), ir.Constant(_VECTOR, None))
                updated.append(builder.call(dpbusd, [sums[r], spread, weights]))
            following = builder.add(g, ir.Constant(_I64, 1))
            g.add_incoming(following, loop)
            for s, u in zip(sums, updated):
                s.add_incoming(u, loop)
            builder.cbranch(builder.icmp_signed("<", following, groups), loop, done)
            builder.position_at_end(done)
            for r in range(rows):
                at = builder.add(out_start, builder.mul(ir.Constant(_I64, r), out_stride))
                builder.store(updated[r], builder.bitcast(builder.gep(out_data, [at]),
                                                          _VECTOR.as_pointer()), align=4)
            return context.get_dummy_value()

        return signature, codegen

    return dot_rows


_dot_many, _dot_one = _dot_rows(ROWS), _dot_rows(1)


def fits(matrix: np.ndarray) -> bool:
    """Whether a layer's (inputs, outputs) matrix of integers runs here: 8-bit weights, inputs
    in groups of 4 and outputs in blocks of 16 (the blocks' layers of h = 16, 32, 48, 64...)."""
    inputs, outputs = matrix.shape
    return (inputs % GROUP == 0 and outputs % LANES == 0 and inputs > 0
            and int(np.abs(matrix).max(initial=0)) <= 127)


def pack(matrix: np.ndarray) -> np.ndarray:
    """(inputs, outputs) int8 weights -> the bytes the instruction reads: for each block of 16
    outputs, for each group of 4 inputs, 16 x 4 bytes (output-major)."""
    inputs, outputs = matrix.shape
    blocks = matrix.astype(np.int8).reshape(inputs // GROUP, GROUP, outputs // LANES, LANES)
    return np.ascontiguousarray(blocks.transpose(2, 0, 3, 1)).reshape(-1)


@numba.njit(cache=True, nogil=True)
def product(x, packed, outputs, out):
    """out (N, outputs) int32 = x (N, inputs) uint8 times the packed (inputs, outputs) int8
    weights, exactly."""
    n, inputs = x.shape
    groups = inputs // GROUP
    x_flat, out_flat = x.reshape(-1), out.reshape(-1)
    for block in range(outputs // LANES):
        w_start = block * groups * GROUP * LANES
        i = 0
        while i + ROWS <= n:
            _dot_many(x_flat, i * inputs, inputs, packed, w_start, groups, out_flat,
                      i * outputs + block * LANES, outputs)
            i += ROWS
        while i < n:
            _dot_one(x_flat, i * inputs, inputs, packed, w_start, groups, out_flat,
                     i * outputs + block * LANES, outputs)
            i += 1
