"""What the API derives from the task registry: the body schema, access rights, level switches, rollout."""

from __future__ import annotations

import httpx

from apikit import Accounts
from housify_ai.tasks import REGISTRY
from housify_api.auth.identity import SERVICES, parse_services
from testkit import AsgiServer

SMALL = {"prompt": "a bright hallway", "width": 64, "height": 64, "steps": 2}


async def test_openapi_body_and_services_follow_the_registry(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/schema/openapi.json")).json()
    body = schema["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "task"
    mapping = body["discriminator"]["mapping"]
    assert list(mapping) == list(REGISTRY)
    assert [member["$ref"] for member in body["oneOf"]] == list(mapping.values())
    components = schema["components"]["schemas"]
    for spec in REGISTRY.values():
        task_body = components[mapping[spec.name].rsplit("/", 1)[1]]
        assert task_body["properties"]["task"]["const"] == spec.name
        assert set(spec.param_names()) <= set(task_body["properties"]), spec.name
        others = {name for other in REGISTRY.values() for name in other.param_names()} - set(spec.param_names())
        assert not others & set(task_body["properties"]), spec.name
        assert task_body["additionalProperties"] is False
        assert ("task" in task_body.get("required", [])) == (spec.name != "text2img")  # left out: text2img
        assert spec.name in SERVICES
    assert "prompt_assist" in SERVICES


async def test_admin_switches_a_task_off_for_a_level(http: httpx.AsyncClient, accounts: Accounts) -> None:
    admin, user = await accounts.user(role="admin"), await accounts.user(level="Pro-Tier")
    tasks = (await http.get("/admin/levels/Pro-Tier/tasks", headers=admin.headers)).json()
    assert tasks["text2img"] is True
    assert (await http.get("/admin/levels/Pro-Tier/tasks", headers=user.headers)).status_code == 403
    assert (await http.get("/admin/levels/Gold/tasks", headers=admin.headers)).status_code == 404
    off = await http.put("/admin/levels/Pro-Tier/tasks/text2img", json={"allowed": False}, headers=admin.headers)
    assert off.status_code == 200 and off.json()["text2img"] is False
    try:
        refused = await http.post("/jobs", json=SMALL, headers=user.headers)
        assert refused.status_code == 403 and "does not include 'text2img'" in refused.json()["detail"]
    finally:
        on = await http.put("/admin/levels/Pro-Tier/tasks/text2img", json={"allowed": True}, headers=admin.headers)
        assert on.json()["text2img"] is True
    assert (await http.post("/jobs", json=SMALL, headers=user.headers)).status_code == 202
    unknown = await http.put("/admin/levels/Pro-Tier/tasks/paint", json={"allowed": True}, headers=admin.headers)
    assert unknown.status_code == 400


async def test_a_newly_registered_task_is_granted_to_existing_users_once(
    media_server: AsgiServer, accounts: Accounts
) -> None:
    from housify_api.media.catalog.access import roll_out_new_tasks
    from housify_api.media.catalog.tables import TaskRollout
    from housify_api.tables import User

    assert await roll_out_new_tasks() == []  # everything registered is rolled out at start-up
    before = await accounts.user(services="text2img")
    # pretend "inpaint" was registered just now
    await TaskRollout.delete().where(TaskRollout.task == "inpaint")
    assert await roll_out_new_tasks() == ["inpaint"]
    row = await User.select(User.services).where(User.id == before.id).first()
    assert parse_services(row["services"]) == {"text2img", "inpaint"}
    # an admin's later revocation stays revoked
    await User.update({User.services: "text2img"}).where(User.id == before.id)
    assert await roll_out_new_tasks() == []
    row = await User.select(User.services).where(User.id == before.id).first()
    assert parse_services(row["services"]) == {"text2img"}


async def test_upscale_is_pro_only_by_default_and_capped(http: httpx.AsyncClient, accounts: Accounts) -> None:
    from apikit import picture, upload

    free, pro = await accounts.user(), await accounts.user(level="Pro-Tier")
    free_pic = (await upload(http, free, picture(64, 48))).json()["id"]
    refused = await http.post("/jobs", json={"task": "upscale", "source_image_id": free_pic}, headers=free.headers)
    assert refused.status_code == 403 and "does not include 'upscale'" in refused.json()["detail"]

    small = (await upload(http, pro, picture(64, 48))).json()["id"]
    ok = await http.post("/jobs", json={"task": "upscale", "source_image_id": small, "scale": 2}, headers=pro.headers)
    assert ok.status_code == 202, ok.text
    assert ok.json()["params"]["scale"] == 2 and ok.json()["params"]["source_image_id"] == small
    for body, fragment in [
        ({"width": 128}, "width: task upscale takes no width"),
        ({"prompt": "sharper"}, "prompt: task upscale takes no prompt"),
        ({"source_image_id": None}, "source_image_id: required for task upscale"),
    ]:
        bad = await http.post("/jobs", json={"task": "upscale", "source_image_id": small, **body}, headers=pro.headers)
        assert bad.status_code == 422 and fragment in bad.json()["detail"], bad.text
    assert (
        await http.post("/jobs", json={"task": "upscale", "source_image_id": small, "scale": 3}, headers=pro.headers)
    ).status_code == 400
    wide = (await upload(http, pro, picture(1100, 120))).json()["id"]  # within the 10:1 aspect bound of uploads
    capped = await http.post("/jobs", json={"task": "upscale", "source_image_id": wide}, headers=pro.headers)
    assert capped.status_code == 422 and "scale: x4 of a 1100x120 picture gives 4400x480" in capped.json()["detail"]


async def test_the_job_events_schema_is_published(http: httpx.AsyncClient) -> None:
    """The WebSocket is not in the OpenAPI document; its messages' JSON Schema is served beside it."""
    response = await http.get("/schema/job-events.json")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/schema+json")
    schema = response.json()
    assert set(schema["discriminator"]["mapping"]) == {
        "queued", "started", "progress", "preview", "succeeded", "failed", "cancelled"
    }  # fmt: skip
    assert len(schema["oneOf"]) == 7 and schema["discriminator"]["propertyName"] == "type"
    succeeded = schema["$defs"][schema["discriminator"]["mapping"]["succeeded"].rsplit("/", 1)[1]]
    assert "image_id" in succeeded["properties"] and "position" not in succeeded["properties"]
