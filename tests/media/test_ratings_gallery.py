"""Ratings (one per user, upsert, not your own), gallery ordering and the Bayesian front page."""

from __future__ import annotations

import asyncio

import httpx

from apikit import Accounts, picture, upload


async def _public_image(http: httpx.AsyncClient, owner, title: str = "") -> str:  # noqa: ANN001
    response = await upload(http, owner, picture(64, 64), title=title, public=True)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def test_rating_rules(http: httpx.AsyncClient, accounts: Accounts) -> None:
    owner, rater, other = await accounts.user(), await accounts.user(), await accounts.user()
    image_id = await _public_image(http, owner)
    path = f"/images/{image_id}/rating"

    first = await http.put(path, json={"stars": 4}, headers=rater.headers)
    assert first.status_code == 201 and first.json() == {"average": 4.0, "count": 1, "mine": 4}
    changed = await http.put(path, json={"stars": 2}, headers=rater.headers)
    assert changed.status_code == 200 and changed.json() == {"average": 2.0, "count": 1, "mine": 2}
    twice = await http.put(path, json={"stars": 5}, headers={**rater.headers, "If-None-Match": "*"})
    assert twice.status_code == 412 and "rated this image already" in twice.json()["detail"]
    assert (await http.put(path, json={"stars": 5}, headers=other.headers)).status_code == 201

    for body in ({"stars": 0}, {"stars": 6}, {"stars": "five"}, {}, {"stars": 3, "extra": 1}):
        bad = await http.put(path, json=body, headers=other.headers)
        assert bad.status_code == 400, body
    own = await http.put(path, json={"stars": 5}, headers=owner.headers)
    assert own.status_code == 403 and "your own image" in own.json()["detail"]
    assert (await http.put(path, json={"stars": 5})).status_code == 401

    image = (await http.get(f"/images/{image_id}", headers=rater.headers)).json()
    assert image["rating"] == {"average": 3.5, "count": 2, "mine": 2}
    withdrawn = await http.delete(path, headers=rater.headers)
    assert withdrawn.status_code == 200 and withdrawn.json()["count"] == 1 and withdrawn.json()["average"] == 5.0
    assert (await http.delete(path, headers=rater.headers)).status_code == 404

    private = (await upload(http, owner)).json()["id"]
    hidden = await http.put(f"/images/{private}/rating", json={"stars": 5}, headers=rater.headers)
    assert hidden.status_code == 404


async def test_concurrent_ratings_keep_totals_exact(http: httpx.AsyncClient, accounts: Accounts) -> None:
    owner = await accounts.user()
    raters = await asyncio.gather(*(accounts.user() for _ in range(8)))
    image_id = await _public_image(http, owner)
    stars = [1, 2, 3, 4, 5, 5, 4, 3]
    responses = await asyncio.gather(
        *(
            http.put(f"/images/{image_id}/rating", json={"stars": s}, headers=r.headers)
            for r, s in zip(raters, stars, strict=False)
        )
    )
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    rating = (await http.get(f"/images/{image_id}")).json()["rating"]
    assert rating["count"] == 8 and rating["average"] == round(sum(stars) / 8, 3)


async def test_gallery_new_top_and_featured(http: httpx.AsyncClient, accounts: Accounts) -> None:
    from housify_api.media.tables import Image

    owner = await accounts.user()
    raters = await asyncio.gather(*(accounts.user() for _ in range(6)))
    # isolate from other tests' public pictures
    await Image.update({Image.public: False}).where(Image.public == True)  # noqa: E712
    one_vote = await _public_image(http, owner, "one five-star vote")
    many_votes = await _public_image(http, owner, "six votes, mostly 5")
    unrated = await _public_image(http, owner, "unrated")
    middling = await _public_image(http, owner, "three votes of 3")
    await http.put(f"/images/{one_vote}/rating", json={"stars": 5}, headers=raters[0].headers)
    for rater, s in zip(raters, [5, 5, 5, 5, 4, 5], strict=False):
        await http.put(f"/images/{many_votes}/rating", json={"stars": s}, headers=rater.headers)
    for rater in raters[:3]:
        await http.put(f"/images/{middling}/rating", json={"stars": 3}, headers=rater.headers)

    new = (await http.get("/gallery", params={"sort": "new"})).json()["items"]
    assert [i["id"] for i in new] == [middling, unrated, many_votes, one_vote]
    top = (await http.get("/gallery", params={"sort": "top"})).json()["items"]
    assert [i["id"] for i in top] == [one_vote, many_votes, middling, unrated]  # plain average: 5.0, 4.83, 3.0, none

    featured = (await http.get("/gallery/featured")).json()
    assert [i["id"] for i in featured] == [many_votes, one_vote, middling]  # Bayesian: volume beats one vote
    # score = (C*m + sum) / (m + n), C = 48/10 site mean, m = HOUSIFY_MEDIA_FEATURED_PRIOR_VOTES (20)
    c, m = (5 + 29 + 9) / 10, accounts.app.state.services.media.settings.featured_prior_votes
    assert featured[0]["score"] == round((c * m + 29) / (m + 6), 4)
    assert featured[1]["score"] == round((c * m + 5) / (m + 1), 4)

    # pages of two over sort=top walk the same order
    page = (await http.get("/gallery", params={"sort": "top", "limit": 2})).json()
    rest = (await http.get("/gallery", params={"sort": "top", "limit": 2, "cursor": page["next_cursor"]})).json()
    assert [i["id"] for i in page["items"] + rest["items"]] == [one_vote, many_votes, middling, unrated]
    assert rest["next_cursor"] is None
    wrong = await http.get("/gallery", params={"sort": "new", "cursor": page["next_cursor"]})
    assert wrong.status_code == 400
    assert (await http.get("/gallery", params={"sort": "best"})).status_code == 400
