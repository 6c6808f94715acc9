"""Ranking of rated pictures for ``GET /gallery/featured`` (docs/design.md "Product and components").

A plain average lets one 5-star vote beat a picture with a hundred 4.8-star
votes. The front page instead ranks by a *Bayesian average*: every picture
starts with ``m`` imaginary votes at the site-wide mean ``C`` and its own
votes pull it away from there::

    score = (C * m + sum_of_stars) / (m + number_of_votes)
          = v / (v + m) * R + m / (v + m) * C        (R = sum / v, the picture's own mean)

This is IMDb's published "weighted rating" for its Top 250
(WR = (v / (v + m)) * R + (m / (v + m)) * C) and the normal-prior posterior
mean in Evan Miller, "Bayesian Average Ratings" (evanmiller.org, 2012-11-06).
``m`` is ``HOUSIFY_MEDIA_FEATURED_PRIOR_VOTES`` (default 20): a picture needs
about twenty votes before its own mean counts as much as the prior. That is
what keeps a handful of throw-away accounts from setting the order (issue 21
item 8): with ``C`` = 3, twelve 5-star votes score (60 + 60) / 32 = 3.75, below
a picture with a hundred votes averaging 4.5 ((60 + 450) / 120 = 4.25); with
``m`` = 5 they scored 4.41 against 4.43, nearly first. Only verified accounts
rate (``housify_api.media.ratings``), sign-ups are limited per client, and a
deleted account's votes are withdrawn and the pictures recounted. ``C`` is the
mean star rating over all ratings of public pictures (3.0, the middle of the
1–5 scale, before anything is rated).
"""

from __future__ import annotations

#: Mean used as ``C`` while no public picture has been rated: the middle of 1–5 stars.
NEUTRAL_MEAN = 3.0


def bayesian_average(rating_sum: int, rating_count: int, *, prior_mean: float, prior_votes: int) -> float:
    """The score above for one picture; ``prior_votes`` (``m``) must be >= 1."""
    return (prior_mean * prior_votes + rating_sum) / (prior_votes + rating_count)


def site_mean(total_stars: int | None, total_votes: int | None) -> float:
    """``C``: mean stars over all votes, or :data:`NEUTRAL_MEAN` when there are none."""
    if not total_votes:
        return NEUTRAL_MEAN
    return float(total_stars or 0) / float(total_votes)


def score_sql(sum_column: str, count_column: str) -> str:
    """SQL for the score, with two ``{}`` placeholders for ``C * m`` and ``m`` (piccolo bound values).

    Works on PostgreSQL and SQLite: the ``1.0 *`` forces real division on both.
    """
    return f"(1.0 * {{}} + {sum_column}) / ({{}} + {count_column})"
