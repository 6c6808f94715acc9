"""Bayesian average of ratings (IMDb weighted rating / Evan Miller 2012)."""

from __future__ import annotations

import pytest

from housify_api.media.ranking import NEUTRAL_MEAN, bayesian_average, site_mean


def test_one_five_star_vote_does_not_beat_many_good_votes() -> None:
    prior_mean, m = 3.5, 5
    single = bayesian_average(5, 1, prior_mean=prior_mean, prior_votes=m)
    many = bayesian_average(int(4.6 * 100), 100, prior_mean=prior_mean, prior_votes=m)
    assert single == pytest.approx((3.5 * 5 + 5) / 6)
    assert many > single


def test_unrated_picture_scores_the_site_mean_and_votes_pull_it() -> None:
    assert bayesian_average(0, 0, prior_mean=3.2, prior_votes=5) == pytest.approx(3.2)
    assert bayesian_average(1, 1, prior_mean=3.2, prior_votes=5) < 3.2
    # with many votes the score approaches the picture's own mean
    assert bayesian_average(2 * 10_000, 10_000, prior_mean=4.0, prior_votes=5) == pytest.approx(2.0, abs=1e-3)


def test_site_mean() -> None:
    assert site_mean(None, None) == NEUTRAL_MEAN
    assert site_mean(0, 0) == NEUTRAL_MEAN
    assert site_mean(9, 2) == 4.5
