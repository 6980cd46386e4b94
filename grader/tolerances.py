"""Every tolerance and false-alarm rate the grader uses, written down once.

Array comparisons use a relative tolerance with an absolute floor that scales with the size of
the expected array: element ``i`` passes when

    |got_i - expected_i| <= ATOL_FLOOR + ATOL_SCALE * max|expected| + RTOL * |expected_i|

References are computed in float64. These bounds accept float64 student code (errors ~1e-15)
and careful float32 code (~1e-7), and reject every realistic bug we know of (off by a factor,
a missing term, a wrong formula: errors of 1e-2 or more). No value is rounded before comparing.
"""

RTOL = 1e-5
"""Relative tolerance per element."""

ATOL_SCALE = 1e-5
"""Absolute floor, as a fraction of the largest |expected| entry of the array compared."""

ATOL_FLOOR = 1e-12
"""Absolute floor for arrays that are all (nearly) zero."""

STAT_ALPHA = 1e-6
"""False-alarm rate of each statistical check of a random part: the probability that a correct
initializer fails that one check. A full run makes fewer than 60 such checks, so a correct
submission loses points by chance with probability below 1e-4."""

PATTERN_RTOL = 1e-4
"""How closely a wrong answer must match a known-bug pattern before the grader names it."""

LEARNING_FLOOR = 0.85
"""Held-out accuracy the train_loop test requires on its separable 4-class problem (chance: 0.25;
the reference reaches 1.0 on it)."""
