"""`docker commit`: a container's changes and config become an image (daemon.CreateImageFromContainer)."""

from __future__ import annotations

from typing import Any

from ...errors import Conflict
from ...images.changes import apply_changes
from ...images.commit import CommitRequest, commit
from ...oci import merge_image_config


def commit_container(svc, ref: str, *, config: dict[str, Any] | None, changes: list[str], author: str,
                     comment: str, pause: bool, repo_tag: str | None) -> str:
    """Commit the container `ref`; tag the image with `repo_tag` when given; return the image id."""
    c = svc.get(ref)
    images = svc.images
    ref_parsed = images.parse_repo_tag(repo_tag) if repo_tag else None
    if c.state.status == "dead":
        raise Conflict(f"You cannot commit container {c.id} which is Dead")
    if c.state.status == "removing" or c.removed:
        raise Conflict(f"You cannot commit container {c.id} which is being removed")
    new_config = apply_changes(config if config is not None else c.config, changes)
    new_config = merge_image_config(new_config, c.config)
    if not new_config.get("Volumes"):
        new_config["Volumes"] = None   # Go's nil map: no volumes is `null` in the image config
    paused_here = False
    if pause and c.state.status == "running":
        svc.runner.pause(c)
        paused_here = True
    try:   # Docker unpauses last (a deferred call): the commit event comes between pause and unpause
        with images.rw_layer_upper(c.id) as upper:
            image_id = commit(images, CommitRequest(
                parent_id=c.image_id, upper_dir=upper, config=new_config,
                container_config=dict(c.config, Volumes=c.config.get("Volumes") or None), container_id=c.id,
                author=author, comment=comment))
        image_ref = ""
        if ref_parsed is not None:
            images.tag_ref(image_id, ref_parsed)
            image_ref = ref_parsed.familiar()
        svc.events.publish("container", "commit", c.id, {
            **(c.config.get("Labels") or {}), "comment": comment, "imageID": image_id, "imageRef": image_ref,
            "image": c.config.get("Image", ""), "name": c.name.lstrip("/")})
    finally:
        if paused_here and c.state.status == "paused":
            svc.runner.resume(c)
    return image_id
