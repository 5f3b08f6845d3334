"""Numba kernels: the numerics layer of rbmlib (random streams, Bernoulli draws, fields, Gibbs sweeps).

Nothing here validates its inputs: :mod:`rbmlib.sampling` (and the science modules
that call these kernels) do that and are the public interface. These modules
document the algorithms and the exact, reproducible order of every
floating-point operation; the names re-exported below are the *internal API*
that the rest of rbmlib may use (nothing else: no module outside
``rbmlib.kernels`` imports a name with a leading underscore from it).

================================  ==========================================================
module                            what it holds
================================  ==========================================================
:mod:`rbmlib.kernels.streams`     one xoshiro256** stream per chain (4 lanes, SplitMix64
                                  seeding): :func:`seed_streams`, :func:`xoshiro_fill`,
                                  :func:`uniforms` (words to uniforms in ``(0, 1]``)
:mod:`rbmlib.kernels.draws`       :func:`exp_neg` (the same bits on every x86-64 CPU),
                                  :func:`bernoulli` (``1`` with probability ``sigmoid(x)``),
                                  :func:`bernoulli_block` (a whole layer)
:mod:`rbmlib.kernels.fields`      the one field-update rule ``bias + sum of active rows``,
                                  from scratch (:func:`field_from_scratch`) or by the rows of
                                  the flipped units (:func:`update_field`, :data:`REFRESH`)
:mod:`rbmlib.kernels.gibbs`       block Gibbs sweeps of many chains (:func:`run_chains`),
                                  random initial states, energies
:mod:`rbmlib.kernels.enumeration` exact enumeration of one layer (:func:`gray_blocks`,
                                  :func:`gray_combine`): ``log``/``log1p``/``exp`` in plain
                                  arithmetic, the sum of softplus as one log of a product tree
:mod:`rbmlib.kernels.target`      the vector width numba compiles for: 512-bit on AVX-512
                                  CPUs (``RBMLIB_VECTOR_WIDTH``; the same bits at any width)
================================  ==========================================================

Every stochastic kernel of the library (the sampler, AIS, tempering, XFT) draws its
random numbers from :mod:`~rbmlib.kernels.streams` and its Bernoulli variables with
:mod:`~rbmlib.kernels.draws`, so a chain's draws depend only on ``(seed, chain index)``:
results are bit-for-bit identical for any number of threads and any split of the
chains into shards.

No ``fastmath``: reassociation and FMA contraction would make the bits depend
on the CPU's vector width and instruction set, and notebooks compare printed
samples across machines. The elementwise loops vectorise without it.

Every kernel is compiled with ``cache=True``. numba invalidates a cached kernel
when *its own* source file changes, not when a function it calls in another file
does: after editing one module of this package, also touch the modules that call it
(or delete ``rbmlib/kernels/__pycache__`` and ``rbmlib/__pycache__``) before
measuring or testing; the bit-identity tests catch a stale cache that matters.
"""
from __future__ import annotations

from . import target
target.configure()          # before any kernel is compiled: 512-bit vectors on AVX-512 CPUs (same bits)

from .draws import bernoulli, bernoulli_block, exp_neg, exp_neg4
from .enumeration import gray_blocks, gray_combine
from .fields import REFRESH, add_flips, aligned_rows, field_from_scratch, update_field
from .gibbs import BLOCK, ORDER_CODES, SAMPLER_VERSION, chain_energies, init_states, phase_block, run_chains
from .streams import N_LANES, seed_streams, uniforms, units_per_word, xoshiro_fill

__all__ = [
    # streams
    "N_LANES", "seed_streams", "xoshiro_fill", "uniforms", "units_per_word",
    # draws
    "exp_neg", "exp_neg4", "bernoulli", "bernoulli_block",
    # fields
    "REFRESH", "aligned_rows", "field_from_scratch", "add_flips", "update_field",
    # sweeps
    "SAMPLER_VERSION", "BLOCK", "ORDER_CODES", "phase_block", "run_chains", "init_states", "chain_energies",
    # exact enumeration
    "gray_blocks", "gray_combine",
    # the compile target (vector width)
    "target",
]
