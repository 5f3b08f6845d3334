"""Bernoulli draws from uniforms: the overflow-free sigmoid rule and a plain-arithmetic ``exp``.

* A unit with (inverse-temperature-scaled) field ``x`` is switched on with
  probability ``sigmoid(x)``, given a uniform ``r`` in ``(0, 1]`` (:func:`rbmlib.kernels.streams.uniforms`). With ``e = exp(-|x|)`` (never overflows) the tail
  probability is ``q = e / (1 + e) <= 1/2`` and the draw is
  ``on = (r (1 + e) < e) XOR (x > 0)``: ``r < q`` for ``x <= 0``, and
  ``r >= sigmoid(-x)`` (i.e. ``1 - r < sigmoid(x)``) for ``x > 0``. Both tails are
  therefore resolved to the uniform's granularity near 0 (``2**-53`` / ``2**-31``)
  instead of ``2**-24`` near 1.
* ``exp`` is evaluated by :func:`exp_neg`, a Cody-Waite range reduction plus the
  Cephes polynomial (float32, ~1 ulp) or Pade approximant (float64, ~1 ulp), with
  ``2**n`` built by bit manipulation. It uses only IEEE +, -, *, /, floor and
  integer ops, so LLVM vectorises the draw loop (no SVML needed) and the result
  is the same on every x86-64 machine. :func:`bernoulli_block` draws four
  quarters of a layer interleaved statement by statement (:func:`exp_neg4`),
  which hides the latency of the exp's dependency chain; every element's
  arithmetic is unchanged.

``error_model="numpy"`` drops the Python division-by-zero check (no denominator
here can be zero), without which the float64 exp would not vectorise; numba
callers of :func:`bernoulli` / :func:`exp_neg` should use it too.
"""
from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

__all__ = ["exp_neg", "exp_neg4", "bernoulli", "bernoulli_block", "bits_to_f64", "f64_to_bits"]


# ----------------------------------------------------------------------------
# bit casts (compile to a no-op register reinterpretation; vectorisable)
# ----------------------------------------------------------------------------
@intrinsic
def _bits_to_f32(typingctx, x):
    if not isinstance(x, types.Integer) or x.bitwidth != 32:
        return None
    sig = types.float32(x)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def _bits_to_f64(typingctx, x):
    if not isinstance(x, types.Integer) or x.bitwidth != 64:
        return None
    sig = types.float64(x)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


@intrinsic
def _f64_to_bits(typingctx, x):
    if not isinstance(x, types.Float) or x.bitwidth != 64:
        return None
    sig = types.int64(x)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return sig, codegen


#: Bit casts between float64 and int64 (callable from numba code), for plain-arithmetic
#: exponent/mantissa manipulation in the kernels (``exp_neg`` here, ``log`` in ``enumeration``).
bits_to_f64 = _bits_to_f64
f64_to_bits = _f64_to_bits


# ----------------------------------------------------------------------------
# dtype-generic scalar pieces (resolved at compile time with @overload)
# ----------------------------------------------------------------------------
def exp_neg(y):
    """exp(y) for y <= 0 (inputs below the underflow threshold are clamped)."""


@overload(exp_neg)
def _exp_neg_ol(y):
    if isinstance(y, types.Float) and y.bitwidth == 32:
        def impl(y):
            # Cephes expf; y clamped so that 2**n stays a normal number
            y = max(y, np.float32(-87.0))
            n = np.floor(y * np.float32(1.44269504088896341) + np.float32(0.5))
            f = y - n * np.float32(0.693359375)
            f = f - n * np.float32(-2.12194440e-4)
            p = np.float32(1.9875691500e-4)
            p = p * f + np.float32(1.3981999507e-3)
            p = p * f + np.float32(8.3334519073e-3)
            p = p * f + np.float32(4.1665795894e-2)
            p = p * f + np.float32(1.6666665459e-1)
            p = p * f + np.float32(5.0000001201e-1)
            p = p * (f * f) + f + np.float32(1.0)
            scale = _bits_to_f32(np.int32((np.int64(np.int32(n)) + 127) << 23))
            return p * scale
        return impl
    if isinstance(y, types.Float) and y.bitwidth == 64:
        def impl(y):
            # Cephes exp (Pade approximant)
            y = max(y, -708.0)
            n = np.floor(y * 1.4426950408889634073599 + 0.5)
            f = y - n * 6.93145751953125e-1
            f = f - n * 1.42860682030941723212e-6
            ff = f * f
            px = ((1.26177193074810590878e-4 * ff + 3.02994407707441961300e-2) * ff
                  + 9.99999999999999999910e-1) * f
            qx = (((3.00198505138664455042e-6 * ff + 2.52448340349684104192e-3) * ff
                   + 2.27265548208155028766e-1) * ff + 2.00000000000000000009e0)
            p = 1.0 + 2.0 * (px / (qx - px))
            scale = _bits_to_f64((np.int64(np.int32(n)) + 1023) << 52)
            return p * scale
        return impl
    return None




def bernoulli(x, r):
    """1 with probability sigmoid(x) given a uniform r in (0, 1] (see module docstring)."""


@overload(bernoulli)
def _bernoulli_ol(x, r):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        def impl(x, r):
            e = exp_neg(-abs(x))
            return np.uint8((r * (np.float32(1.0) + e) < e) != (x > np.float32(0.0)))
        return impl
    if isinstance(x, types.Float) and x.bitwidth == 64:
        def impl(x, r):
            e = exp_neg(-abs(x))
            return np.uint8((r * (1.0 + e) < e) != (x > 0.0))
        return impl
    return None


def exp_neg4(y0, y1, y2, y3):
    """:func:`exp_neg` of four arguments, statement by statement interleaved.

    Each result is bit-identical to ``exp_neg(y_k)``: the same operations in the
    same order per element. Interleaving four independent dependency chains lets
    the CPU overlap them (a single chain is latency-bound: ~1.35x slower).
    """


@overload(exp_neg4, inline="always")
def _exp_neg4_ol(y0, y1, y2, y3):
    if isinstance(y0, types.Float) and y0.bitwidth == 32:
        def impl(y0, y1, y2, y3):
            c = np.float32
            y0 = max(y0, c(-87.0))
            y1 = max(y1, c(-87.0))
            y2 = max(y2, c(-87.0))
            y3 = max(y3, c(-87.0))
            n0 = np.floor(y0 * c(1.44269504088896341) + c(0.5))
            n1 = np.floor(y1 * c(1.44269504088896341) + c(0.5))
            n2 = np.floor(y2 * c(1.44269504088896341) + c(0.5))
            n3 = np.floor(y3 * c(1.44269504088896341) + c(0.5))
            f0 = (y0 - n0 * c(0.693359375)) - n0 * c(-2.12194440e-4)
            f1 = (y1 - n1 * c(0.693359375)) - n1 * c(-2.12194440e-4)
            f2 = (y2 - n2 * c(0.693359375)) - n2 * c(-2.12194440e-4)
            f3 = (y3 - n3 * c(0.693359375)) - n3 * c(-2.12194440e-4)
            p0 = c(1.9875691500e-4) * f0 + c(1.3981999507e-3)
            p1 = c(1.9875691500e-4) * f1 + c(1.3981999507e-3)
            p2 = c(1.9875691500e-4) * f2 + c(1.3981999507e-3)
            p3 = c(1.9875691500e-4) * f3 + c(1.3981999507e-3)
            p0 = p0 * f0 + c(8.3334519073e-3)
            p1 = p1 * f1 + c(8.3334519073e-3)
            p2 = p2 * f2 + c(8.3334519073e-3)
            p3 = p3 * f3 + c(8.3334519073e-3)
            p0 = p0 * f0 + c(4.1665795894e-2)
            p1 = p1 * f1 + c(4.1665795894e-2)
            p2 = p2 * f2 + c(4.1665795894e-2)
            p3 = p3 * f3 + c(4.1665795894e-2)
            p0 = p0 * f0 + c(1.6666665459e-1)
            p1 = p1 * f1 + c(1.6666665459e-1)
            p2 = p2 * f2 + c(1.6666665459e-1)
            p3 = p3 * f3 + c(1.6666665459e-1)
            p0 = p0 * f0 + c(5.0000001201e-1)
            p1 = p1 * f1 + c(5.0000001201e-1)
            p2 = p2 * f2 + c(5.0000001201e-1)
            p3 = p3 * f3 + c(5.0000001201e-1)
            p0 = p0 * (f0 * f0) + f0 + c(1.0)
            p1 = p1 * (f1 * f1) + f1 + c(1.0)
            p2 = p2 * (f2 * f2) + f2 + c(1.0)
            p3 = p3 * (f3 * f3) + f3 + c(1.0)
            return (p0 * _bits_to_f32(np.int32((np.int64(np.int32(n0)) + 127) << 23)),
                    p1 * _bits_to_f32(np.int32((np.int64(np.int32(n1)) + 127) << 23)),
                    p2 * _bits_to_f32(np.int32((np.int64(np.int32(n2)) + 127) << 23)),
                    p3 * _bits_to_f32(np.int32((np.int64(np.int32(n3)) + 127) << 23)))
        return impl
    if isinstance(y0, types.Float) and y0.bitwidth == 64:
        def impl(y0, y1, y2, y3):
            y0 = max(y0, -708.0)
            y1 = max(y1, -708.0)
            y2 = max(y2, -708.0)
            y3 = max(y3, -708.0)
            n0 = np.floor(y0 * 1.4426950408889634073599 + 0.5)
            n1 = np.floor(y1 * 1.4426950408889634073599 + 0.5)
            n2 = np.floor(y2 * 1.4426950408889634073599 + 0.5)
            n3 = np.floor(y3 * 1.4426950408889634073599 + 0.5)
            f0 = (y0 - n0 * 6.93145751953125e-1) - n0 * 1.42860682030941723212e-6
            f1 = (y1 - n1 * 6.93145751953125e-1) - n1 * 1.42860682030941723212e-6
            f2 = (y2 - n2 * 6.93145751953125e-1) - n2 * 1.42860682030941723212e-6
            f3 = (y3 - n3 * 6.93145751953125e-1) - n3 * 1.42860682030941723212e-6
            g0 = f0 * f0
            g1 = f1 * f1
            g2 = f2 * f2
            g3 = f3 * f3
            a0 = ((1.26177193074810590878e-4 * g0 + 3.02994407707441961300e-2) * g0 + 9.99999999999999999910e-1) * f0
            a1 = ((1.26177193074810590878e-4 * g1 + 3.02994407707441961300e-2) * g1 + 9.99999999999999999910e-1) * f1
            a2 = ((1.26177193074810590878e-4 * g2 + 3.02994407707441961300e-2) * g2 + 9.99999999999999999910e-1) * f2
            a3 = ((1.26177193074810590878e-4 * g3 + 3.02994407707441961300e-2) * g3 + 9.99999999999999999910e-1) * f3
            b0 = (((3.00198505138664455042e-6 * g0 + 2.52448340349684104192e-3) * g0
                   + 2.27265548208155028766e-1) * g0 + 2.00000000000000000009e0)
            b1 = (((3.00198505138664455042e-6 * g1 + 2.52448340349684104192e-3) * g1
                   + 2.27265548208155028766e-1) * g1 + 2.00000000000000000009e0)
            b2 = (((3.00198505138664455042e-6 * g2 + 2.52448340349684104192e-3) * g2
                   + 2.27265548208155028766e-1) * g2 + 2.00000000000000000009e0)
            b3 = (((3.00198505138664455042e-6 * g3 + 2.52448340349684104192e-3) * g3
                   + 2.27265548208155028766e-1) * g3 + 2.00000000000000000009e0)
            return ((1.0 + 2.0 * (a0 / (b0 - a0))) * _bits_to_f64((np.int64(np.int32(n0)) + 1023) << 52),
                    (1.0 + 2.0 * (a1 / (b1 - a1))) * _bits_to_f64((np.int64(np.int32(n1)) + 1023) << 52),
                    (1.0 + 2.0 * (a2 / (b2 - a2))) * _bits_to_f64((np.int64(np.int32(n2)) + 1023) << 52),
                    (1.0 + 2.0 * (a3 / (b3 - a3))) * _bits_to_f64((np.int64(np.int32(n3)) + 1023) << 52))
        return impl
    return None


def _one(x):
    """1 in the dtype of x."""


@overload(_one, inline="always")
def _one_ol(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: np.float32(1.0)
    return lambda x: 1.0


@nb.njit(cache=True, error_model="numpy")
def bernoulli_block(field, beta, r, dst):
    """dst[j] = bernoulli(beta * field[j], r[j]) for every j, four quarters interleaved.

    Element ``j`` is processed together with ``j + q``, ``j + 2q``, ``j + 3q``
    (``q = n // 4``); every element's arithmetic is exactly that of :func:`bernoulli`.
    """
    n = dst.shape[0]
    q = n // 4
    one = _one(beta)
    zero = one - one
    for j in range(q):
        x0 = beta * field[j]
        x1 = beta * field[j + q]
        x2 = beta * field[j + 2 * q]
        x3 = beta * field[j + 3 * q]
        e0, e1, e2, e3 = exp_neg4(-abs(x0), -abs(x1), -abs(x2), -abs(x3))
        dst[j] = np.uint8((r[j] * (one + e0) < e0) != (x0 > zero))
        dst[j + q] = np.uint8((r[j + q] * (one + e1) < e1) != (x1 > zero))
        dst[j + 2 * q] = np.uint8((r[j + 2 * q] * (one + e2) < e2) != (x2 > zero))
        dst[j + 3 * q] = np.uint8((r[j + 3 * q] * (one + e3) < e3) != (x3 > zero))
    for j in range(4 * q, n):
        dst[j] = bernoulli(beta * field[j], r[j])
