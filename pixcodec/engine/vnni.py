"""Integer products on the CPU's dot-product unit (AVX-512 VNNI): ``vpdpbusd`` adds, into each
of 16 int32 lanes, four products of unsigned 8-bit by signed 8-bit values, 64 products an
instruction where float32 FMA does 16; ``vpdpwssd`` two products of signed 16-bit values. The
residual blocks' layers are exactly the first kind (8-bit codes of ReLU'd values times 8-bit
weights), the output layer the second (the head's 8-bit codes times 16-bit weights, whose
sums stay below 2**31), so their int32 sums are the same integers as the BLAS paths give
(float32 and float64, both exact): only the speed differs (3x at a decode step here).

numba has no vector types, so the loop is written in LLVM IR (llvmlite, numba's own backend)
and called as an intrinsic from compiled code (defined when numba comes in: ``setup``). It is
compiled only where the CPU has the instructions (``AVAILABLE``, as numpy detected them);
elsewhere the engine keeps BLAS. ``PIXCODEC_KERNELS=blas`` in the environment turns it off,
to compare the two paths or to rule it out.
"""
from __future__ import annotations

import os

import numpy as np

from ..compiled import cpu_features, kernel, setup

LANES = 16  # int32 outputs a 512-bit register holds
GROUP = 4   # 8-bit inputs each lane sums per instruction
WIDE_GROUP = 2  # 16-bit inputs each lane sums per instruction
ROWS = 4    # positions a call runs at once: independent sums that hide the instruction's latency


def _host_has_vnni() -> bool:
    if os.environ.get("PIXCODEC_KERNELS", "").lower() == "blas":
        return False
    features = cpu_features()
    return all(features.get(name, False) for name in ("AVX512F", "AVX512BW", "AVX512VNNI"))


AVAILABLE = _host_has_vnni()


@setup
def _define_intrinsics() -> None:
    """The dot-product unit's loops as numba intrinsics (four rows a call, or one; 8-bit or
    16-bit inputs), defined when numba comes in."""
    global _dot_many, _dot_one, _wide_many, _wide_one
    from llvmlite import ir
    from numba import types
    from numba.core.extending import intrinsic

    def _dot_rows(rows: int, wide: bool = False):
        """An intrinsic: out[r, 0:16] = sum over g < groups of the 4-byte groups of x at row
        r (four 8-bit inputs, or two 16-bit ones where `wide`) times the packed weights' 64
        bytes of group g (``pack``, ``pack_wide``), for `rows` rows at once."""
        i8, i16, i32, i64 = ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)
        vector = ir.VectorType(i32, LANES)
        element, group = (i16, WIDE_GROUP) if wide else (i8, GROUP)
        instruction = "llvm.x86.avx512.vpdpwssd.512" if wide else "llvm.x86.avx512.vpdpbusd.512"

        @intrinsic
        def dot_rows(typingctx, x, x_start, x_stride, w, w_start, groups, out, out_start,
                     out_stride):
            signature = types.void(x, x_start, x_stride, w, w_start, groups, out, out_start,
                                   out_stride)

            def codegen(context, builder, sig, args):
                x, x_start, x_stride, w, w_start, groups, out, out_start, out_stride = args
                data = [builder.bitcast(context.make_array(sig.args[i])(context, builder, a).data,
                                        kind.as_pointer())
                        for i, a, kind in ((0, x, element), (3, w, element), (6, out, i32))]
                x_data, w_data, out_data = data
                dot = builder.module.declare_intrinsic(
                    instruction, fnty=ir.FunctionType(vector, [vector, vector, vector]))
                entry = builder.basic_block
                loop = builder.append_basic_block("dot")
                done = builder.append_basic_block("dot_end")
                builder.branch(loop)
                builder.position_at_end(loop)
                g = builder.phi(i64)
                g.add_incoming(ir.Constant(i64, 0), entry)
                sums = []
                for _ in range(rows):
                    s = builder.phi(vector)
                    s.add_incoming(ir.Constant(vector, None), entry)
                    sums.append(s)
                at = builder.add(w_start, builder.mul(g, ir.Constant(i64, LANES * group)))
                weights = builder.load(builder.bitcast(builder.gep(w_data, [at]),
                                                       vector.as_pointer()), align=1)
                first = builder.add(x_start, builder.mul(g, ir.Constant(i64, group)))
                updated = []
                for r in range(rows):
                    at = builder.add(first, builder.mul(ir.Constant(i64, r), x_stride))
                    four = builder.load(builder.bitcast(builder.gep(x_data, [at]),
                                                        i32.as_pointer()), align=1)
                    spread = builder.shuffle_vector(
                        builder.insert_element(ir.Constant(vector, ir.Undefined), four,
                                               ir.Constant(i32, 0)),
                        ir.Constant(vector, ir.Undefined), ir.Constant(vector, None))
                    updated.append(builder.call(dot, [sums[r], spread, weights]))
                following = builder.add(g, ir.Constant(i64, 1))
                g.add_incoming(following, loop)
                for s, u in zip(sums, updated):
                    s.add_incoming(u, loop)
                builder.cbranch(builder.icmp_signed("<", following, groups), loop, done)
                builder.position_at_end(done)
                for r in range(rows):
                    at = builder.add(out_start, builder.mul(ir.Constant(i64, r), out_stride))
                    builder.store(updated[r], builder.bitcast(builder.gep(out_data, [at]),
                                                              vector.as_pointer()), align=4)
                return context.get_dummy_value()

            return signature, codegen

        return dot_rows

    _dot_many, _dot_one = _dot_rows(ROWS), _dot_rows(1)
    _wide_many, _wide_one = _dot_rows(ROWS, wide=True), _dot_rows(1, wide=True)


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


@kernel(nogil=True)
def product(x, packed, outputs, out):
    """out (N, outputs) int32 = x (N, inputs) uint8 times the packed (inputs, outputs) int8
    weights, exactly."""
    _product(x, packed, outputs, out, False)


@kernel(nogil=True)
def product_wide(x, packed, outputs, out):
    """out (N, outputs) int32 = x (N, inputs) int16 (values 0 to 255) times the packed
    (inputs, outputs) 16-bit weights, exactly; `outputs` padded to blocks of 16."""
    _product(x, packed, outputs, out, True)


@kernel(nogil=True)
def _product(x, packed, outputs, out, wide):
    """Four positions a call, then one at a time; `wide`: 16-bit inputs and weights."""
    n, inputs = x.shape
    groups = inputs // (WIDE_GROUP if wide else GROUP)
    x_flat, out_flat = x.reshape(-1), out.reshape(-1)
    for block in range(outputs // LANES):
        i = 0
        while i < n:
            at = (x_flat, i * inputs, inputs, packed, block * inputs * LANES, groups, out_flat,
                  i * outputs + block * LANES, outputs)
            many = i + ROWS <= n
            if wide and many:
                _wide_many(*at)
            elif wide:
                _wide_one(*at)
            elif many:
                _dot_many(*at)
            else:
                _dot_one(*at)
            i += ROWS if many else 1


def fits_wide(matrix: np.ndarray) -> bool:
    """Whether a layer's (inputs, outputs) matrix of integers runs here on 8-bit inputs (0 to
    255) as 16-bit values: 16-bit weights, inputs in pairs, and every sum below 2**31 (the
    instruction wraps around). Outputs are padded to blocks of 16 (``pack_wide``)."""
    inputs, outputs = matrix.shape
    largest = int(np.abs(matrix).max(initial=0))
    return (inputs % WIDE_GROUP == 0 and inputs > 0 and outputs > 0 and largest <= 2**15 - 1
            and inputs * 255 * largest < 2**31 and bool((matrix == np.rint(matrix)).all()))


@kernel
def padded(outputs: int) -> int:
    """Outputs rounded up to whole blocks of 16 lanes."""
    return -(-outputs // LANES) * LANES


def pack_wide(matrix: np.ndarray) -> np.ndarray:
    """(inputs, outputs) 16-bit weights -> what ``vpdpwssd`` reads, as ``pack`` for pairs of
    inputs, the outputs padded with zero weights to blocks of 16."""
    inputs, outputs = matrix.shape
    full = np.zeros((inputs, padded(outputs)), np.int16)
    full[:, :outputs] = matrix
    blocks = full.reshape(inputs // WIDE_GROUP, WIDE_GROUP, -1, LANES)
    return np.ascontiguousarray(blocks.transpose(2, 0, 3, 1)).reshape(-1)

