"""Typed errors. Each carries a message a user can act on; the CLI and the chat adapters show only that.

    PaperbotError            base: ``str(err)`` is safe to show a user
    ├── UsageError           the user typed something we cannot use (CLI exit 2)
    │   ├── BadIdError       not an arXiv id in any accepted form
    │   ├── UnknownCategoryError
    │   └── BadTimeError     a time or time zone we cannot use
    ├── ConfigError          bad config file or value (exit 2, at start)
    ├── NotFoundError        a well-formed id arXiv does not know (exit 1)
    ├── PermissionDenied     the user may not run this command here
    ├── SourceError          an upstream service failed or sent garbage (exit 1)
    │   ├── SourceUnreachable  no usable answer in time (network, timeouts, 5xx after retries)
    │   ├── FeedFormatError  truncated / invalid XML: nothing is stored
    │   ├── SuspiciousEmptyFeed  HTTP 200 with no items on an announcement day
    │   └── StaleFeed        a feed still showing an older announcement than today's
    └── ChannelUnavailable   a chat channel we can no longer post to (its subscriptions pause)

Anything else is a bug: it is logged with a reference id and the user sees only that id.
"""

from __future__ import annotations


class PaperbotError(Exception):
    """Base class; the message is meant for the user."""

    exit_code = 1


class UsageError(PaperbotError):
    exit_code = 2


class BadIdError(UsageError):
    pass


class UnknownCategoryError(UsageError):
    def __init__(self, message: str, suggestions: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.suggestions = suggestions


class BadTimeError(UsageError):
    pass


class ConfigError(PaperbotError):
    exit_code = 2


class NotFoundError(PaperbotError):
    exit_code = 1


class PermissionDenied(PaperbotError):
    exit_code = 1


class SourceError(PaperbotError):
    exit_code = 1


class SourceUnreachable(SourceError):
    """The service did not answer in time, or not usefully, after the retries the caller allows."""


class FeedFormatError(SourceError):
    pass


class SuspiciousEmptyFeed(SourceError):
    pass


class StaleFeed(SourceError):
    pass


class ChannelUnavailable(PaperbotError):
    """An adapter cannot post to a channel for good (removed, archived, no access): its subscriptions
    are paused with this reason instead of failing every day."""
