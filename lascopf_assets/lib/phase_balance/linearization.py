"""The tightest exact linearization of ``max_p |a_p|`` when ``a_A + a_B + a_C = 0``.

Lemma. For ``a`` in R^3 with ``a_A + a_B + a_C = 0``::

    max_p |a_p| = max( a_A, a_B, a_C, -a_A, -a_B, -a_C )          (by definition)
                = max over the 6 proper non-empty subsets S of sum_{p in S} a_p
                = (|a_A| + |a_B| + |a_C|) / 2.

Proof. ``-a_p`` equals the sum of the two other entries, which gives the
second line. For the third: the positive entries sum to ``P`` and the negative
ones to ``-P`` (the total is 0), so ``sum |a_p| = 2P``. If one entry is
positive it is the largest in absolute value (the negatives each have
magnitude at most ``P``) and equals ``P``; if two are positive the single
negative entry has magnitude ``P`` and each positive one is at most ``P``.
Either way ``max_p |a_p| = P``.

Consequence for the model. With ``d[t, p]`` affine in the assignment (the
normalized deviation of phase ``p``), ``z_t >= max_p |d[t, p]|`` is exactly the
6 rows ``z_t >= s * d[t, p]`` for ``p`` in {A, B, C}, ``s`` in {+1, -1}: one
variable per hour, no per-phase aggregate or absolute-value variables.
No smaller description exists: on the plane ``sum_p a_p = 0`` the function is a
norm whose unit ball is a hexagon (vertices at the 6 permutations of
``(1, 0, -1)``), and each of the 6 pieces is the
unique maximum on an open sector (e.g. ``a_A`` on ``a_A > |a_B|, a_A > |a_C|``),
so every row defines a facet of the epigraph and dropping any one makes the
description inexact. The epigraph is convex, so these rows are its convex
hull: no linear description of ``z_t >= max_p |d[t, p]|`` in the space of
``(d, z)`` is tighter. (The study's model, ``u[t, p] >= +-dev[t, p]`` and
``z_t >= u[t, p]``, projects to the same set, with 3 extra variables and 3
extra rows per hour and an explicit aggregate per hour and phase.)

The pieces are numbered ``k = 0..5`` with phase ``PIECE_PHASE[k]`` and sign
``PIECE_SIGN[k]``.
"""

from __future__ import annotations

import numpy as np

PIECE_PHASE = np.array([0, 1, 2, 0, 1, 2])
PIECE_SIGN = np.array([1.0, 1.0, 1.0, -1.0, -1.0, -1.0])


def pieces(a: np.ndarray) -> np.ndarray:
    """The 6 affine pieces ``s * a[..., p]`` stacked on the last axis."""
    a = np.asarray(a, dtype=np.float64)
    return a[..., PIECE_PHASE] * PIECE_SIGN


def max_abs_balanced(a: np.ndarray) -> np.ndarray:
    """``max_p |a_p|`` through the 6 pieces (valid for any ``a``: it is the definition)."""
    return pieces(a).max(axis=-1)


def half_l1(a: np.ndarray) -> np.ndarray:
    """``sum_p |a_p| / 2``: equals :func:`max_abs_balanced` exactly when ``sum_p a_p = 0``."""
    return 0.5 * np.abs(np.asarray(a, dtype=np.float64)).sum(axis=-1)


def active_piece(a: np.ndarray) -> np.ndarray:
    """Index ``k`` of a piece attaining ``max_p |a_p|`` (per row)."""
    return pieces(a).argmax(axis=-1)
