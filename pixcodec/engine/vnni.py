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
# A call sums ROWS positions (then FEW_ROWS, then one, for those left over) by two blocks of
# 16 outputs at once (an odd last block, and the 16-bit products, one block): 16 independent
# sums hide the instruction's latency, each load of the weights serves 8 positions and each
# of the inputs 2 blocks. Measured on Zen 5 (docs/BENCHMARKS.md): 1.5-1.6 times the products
# a second of 4 positions by one block; 16 positions by one block need more than the 32
# vector registers and were slower than 4.
ROWS = 8
FEW_ROWS = 4


def _host_has_vnni() -> bool:
    if os.environ.get("PIXCODEC_KERNELS", "").lower() == "blas":
        return False
    features = cpu_features()
    return all(features.get(name, False) for name in ("AVX512F", "AVX512BW", "AVX512VNNI"))


AVAILABLE = _host_has_vnni()


@setup
def _define_intrinsics() -> None:
    """The dot-product unit's loops as numba intrinsics (ROWS, FEW_ROWS or one rows a call,
    by one block of outputs or two; 8-bit or 16-bit inputs), defined when numba comes in."""
    global _dot_many, _dot_few, _dot_one, _wide_many, _wide_few, _wide_one
    global _pair_many, _pair_few, _pair_one
    from llvmlite import ir
    from numba import types
    from numba.core.extending import intrinsic

    def _dot_loop(rows: int, wide: bool = False, blocks: int = 1):
        """An intrinsic: out[r, 16 b:16 b + 16] = sum over g < groups of the 4-byte groups of
        x at row r (four 8-bit inputs, or two 16-bit ones where `wide`) times the 64 bytes of
        group g of the packed weights' block b (``pack``, ``pack_wide``), for `rows` rows and
        `blocks` consecutive blocks at once."""
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
                for _ in range(rows * blocks):
                    s = builder.phi(vector)
                    s.add_incoming(ir.Constant(vector, None), entry)
                    sums.append(s)
                block_stride = builder.mul(groups, ir.Constant(i64, LANES * group))
                at = builder.add(w_start, builder.mul(g, ir.Constant(i64, LANES * group)))
                weights = []
                for b in range(blocks):
                    here = builder.add(at, builder.mul(ir.Constant(i64, b), block_stride))
                    weights.append(builder.load(builder.bitcast(builder.gep(w_data, [here]),
                                                                vector.as_pointer()), align=1))
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
                    for b in range(blocks):
                        updated.append(builder.call(dot, [sums[r * blocks + b], spread,
                                                          weights[b]]))
                following = builder.add(g, ir.Constant(i64, 1))
                g.add_incoming(following, loop)
                for s, u in zip(sums, updated):
                    s.add_incoming(u, loop)
                builder.cbranch(builder.icmp_signed("<", following, groups), loop, done)
                builder.position_at_end(done)
                for r in range(rows):
                    for b in range(blocks):
                        at = builder.add(builder.add(out_start, builder.mul(
                            ir.Constant(i64, r), out_stride)), ir.Constant(i64, b * LANES))
                        builder.store(updated[r * blocks + b],
                                      builder.bitcast(builder.gep(out_data, [at]),
                                                      vector.as_pointer()), align=4)
                return context.get_dummy_value()

            return signature, codegen

        return dot_rows

    _dot_many, _dot_few, _dot_one = _dot_loop(ROWS), _dot_loop(FEW_ROWS), _dot_loop(1)
    _pair_many, _pair_few, _pair_one = (_dot_loop(ROWS, blocks=2),
                                        _dot_loop(FEW_ROWS, blocks=2), _dot_loop(1, blocks=2))
    _wide_many, _wide_few, _wide_one = (_dot_loop(ROWS, wide=True),
                                        _dot_loop(FEW_ROWS, wide=True), _dot_loop(1, wide=True))


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
    """Blocks of outputs two at a time (the last alone where their number is odd; 16-bit ones
    alone: the output layer's share is small), and for each, ROWS positions a call, then
    FEW_ROWS, then one; `wide`: 16-bit inputs and weights."""
    n, inputs = x.shape
    groups = inputs // (WIDE_GROUP if wide else GROUP)
    x_flat, out_flat = x.reshape(-1), out.reshape(-1)
    blocks = outputs // LANES
    block = 0
    while block < blocks:
        pair = not wide and block + 2 <= blocks
        i = 0
        while i < n:
            at = (x_flat, i * inputs, inputs, packed, block * inputs * LANES, groups, out_flat,
                  i * outputs + block * LANES, outputs)
            rows = ROWS if i + ROWS <= n else FEW_ROWS if i + FEW_ROWS <= n else 1
            if wide:
                _wide_many(*at) if rows == ROWS else _wide_few(*at) if rows > 1 else _wide_one(*at)
            elif pair:
                _pair_many(*at) if rows == ROWS else _pair_few(*at) if rows > 1 else _pair_one(*at)
            else:
                _dot_many(*at) if rows == ROWS else _dot_few(*at) if rows > 1 else _dot_one(*at)
            i += rows
        block += 2 if pair else 1


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

