# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Bounded retries and waits, once for every backend (as amazon.aws keeps them in ``retries.py``).

Nothing here tries forever: a retry has a number of attempts, a wait has a deadline.
"""

from __future__ import annotations

import functools
import time

from ansible_collections.vmpayload.core.plugins.module_utils._payload.errors import BackendError


class WaitTimeout(BackendError):
    """A wait reached its deadline."""


def retry(attempts, pause, retry_on=None, until=None):
    """A decorator that calls the function up to ``attempts`` times, ``pause`` seconds apart.

    ``retry_on(exc)`` says which exceptions are worth another attempt (the last one is raised);
    ``until(result)`` says which results are final (the last result is returned either way).
    """
    def decorator(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for attempt in range(1, attempts + 1):
                last = attempt == attempts
                try:
                    result = func(*args, **kwargs)
                except Exception as exc:
                    if last or retry_on is None or not retry_on(exc):
                        raise
                else:
                    if last or until is None or until(result):
                        return result
                time.sleep(pause)
        return wrapper
    return decorator


def wait_until(condition, timeout, interval, timeout_message):
    """Poll ``condition()`` every ``interval`` seconds until it is true, and return what it gave; WaitTimeout after ``timeout`` s.

    ``timeout_message`` may be a callable, to say what was seen last.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise WaitTimeout(timeout_message() if callable(timeout_message) else timeout_message)
        time.sleep(interval)
