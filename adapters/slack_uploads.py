"""Equation images uploaded into an explanation's Slack thread (``files_upload_v2``: needs ``files:write``).

One upload carries all of an explanation's images (one message in the thread, each image titled with its
label, "Eq. (3)", and its Unicode form as alt text); it waits its turn in the channel's pacing like a
message. Images are a garnish: a failed upload is logged and the text explanation, already posted, stays
as it is. Titles and alt texts come from the paper and were made inert when the images were drawn
(bot.equation_images); they are bounded again here because Slack refuses long ones.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from slack_sdk.errors import SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.cards import EquationImage
from bot.equation_images import MAX_IMAGE_BYTES, image_filename, read_image
from bot.untrusted import bounded, inert_text

log = logging.getLogger(__name__)

__all__ = ["MAX_IMAGE_BYTES", "MAX_UPLOADS", "upload_equation_images"]

MAX_UPLOADS = 10  # files in one files.completeUploadExternal; explanations carry 3 by default
TITLE_CHARS = 250
ALT_TEXT_CHARS = 1_000

Pace = Callable[[str], Awaitable[None]]


async def upload_equation_images(
    client: AsyncWebClient,
    channel_id: str,
    thread_ts: str | None,
    images: Sequence[EquationImage],
    *,
    pace: Pace | None = None,
) -> int:
    """Upload ``images`` into the thread ``thread_ts`` of ``channel_id``; how many were uploaded (0 when
    Slack refused: logged, never raised). ``pace(channel_id)`` is awaited first, so the upload counts in
    the channel's message pacing."""
    uploads = [upload for image in images[:MAX_UPLOADS] if (upload := await _upload_item(image)) is not None]
    if not uploads:
        return 0
    if pace is not None:
        await pace(channel_id)
    try:
        await client.files_upload_v2(file_uploads=uploads, channel=channel_id, thread_ts=thread_ts or None)
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as err:
        # SlackApiError (ok: false, e.g. missing_scope without files:write) and SlackRequestError (the
        # upload URL refused the bytes) are both SlackClientErrors.
        log.warning("equation images not uploaded to %s (%s): the explanation stands without them", channel_id, err)
        return 0
    return len(uploads)


async def _upload_item(image: EquationImage) -> dict[str, Any] | None:
    """One file of the upload, read off the event loop; None when it is gone (the cache evicted it)."""
    try:
        data = await asyncio.to_thread(read_image, Path(image.path))
    except OSError as err:
        log.info("equation image %s unreadable (%s): not uploaded", image.path, err)
        return None
    return {
        "file": data,
        "filename": image_filename(image.label),
        "title": inert_text(bounded(image.label, TITLE_CHARS)),
        "alt_txt": inert_text(bounded(image.unicode, ALT_TEXT_CHARS)),
    }
