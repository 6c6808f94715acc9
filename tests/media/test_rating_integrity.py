"""Issue 21 item 8: only verified accounts rate; a deleted account's votes leave the pictures' totals;
the default prior keeps a dozen fresh 5-star votes from beating a well-rated picture. Each fails on 02e5a16."""

from __future__ import annotations

import httpx

from apikit import Accounts, bearer, login, register, upload


async def test_an_unverified_account_cannot_rate(http: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.user()
    image = (await upload(http, owner, public=True)).json()
    fresh = await login(http, await register(http))
    refused = await http.put(f"/images/{image['id']}/rating", json={"stars": 5}, headers=bearer(fresh))
    assert refused.status_code == 403 and "verify your e-mail" in refused.json()["detail"]
    assert (await http.get(f"/images/{image['id']}")).json()["rating"]["count"] == 0


async def test_deleting_an_account_takes_its_votes_out_of_the_totals(
    http: httpx.AsyncClient, accounts: Accounts
) -> None:
    owner, rater, other = await accounts.user(), await accounts.user(), await accounts.user()
    admin = await accounts.user(role="admin")
    image = (await upload(http, owner, public=True)).json()
    for user, stars in ((rater, 5), (other, 1)):
        assert (
            await http.put(f"/images/{image['id']}/rating", json={"stars": stars}, headers=user.headers)
        ).status_code in (200, 201)
    assert (await http.get(f"/images/{image['id']}")).json()["rating"]["count"] == 2
    assert (await http.delete(f"/admin/users/{rater.id}", headers=admin.headers)).status_code == 204
    rating = (await http.get(f"/images/{image['id']}")).json()["rating"]
    assert (rating["count"], rating["average"]) == (1, 1.0)


def test_twelve_fresh_votes_do_not_beat_a_hundred_good_ones() -> None:
    from housify_api.media.ranking import bayesian_average
    from housify_api.settings import MediaSettings

    m = MediaSettings().featured_prior_votes
    fresh = bayesian_average(12 * 5, 12, prior_mean=3.0, prior_votes=m)
    established = bayesian_average(450, 100, prior_mean=3.0, prior_votes=m)
    assert fresh < established - 0.25, (m, fresh, established)
