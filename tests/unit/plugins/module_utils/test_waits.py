# -*- coding: utf-8 -*-
# Copyright: vmpayload.core contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The bounded retries and waits every backend uses."""

from __future__ import annotations

import pytest

from ansible_collections.vmpayload.core.plugins.module_utils._backends import waits


class Flaky:
    def __init__(self, failures, error=ValueError):
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error('attempt %d' % self.calls)
        return self.calls


@pytest.mark.parametrize('failures, attempts, calls', [(0, 3, 1), (2, 3, 3)])
def test_retry_tries_again_on_the_named_failures(failures, attempts, calls):
    flaky = Flaky(failures)
    assert waits.retry(attempts, 0, retry_on=lambda exc: isinstance(exc, ValueError))(flaky)() == calls
    assert flaky.calls == calls


def test_retry_gives_up_after_its_attempts_with_the_last_error():
    flaky = Flaky(5)
    with pytest.raises(ValueError, match='attempt 3'):
        waits.retry(3, 0, retry_on=lambda exc: True)(flaky)()
    assert flaky.calls == 3


def test_retry_never_retries_other_failures():
    flaky = Flaky(1, error=KeyError)
    with pytest.raises(KeyError):
        waits.retry(3, 0, retry_on=lambda exc: isinstance(exc, ValueError))(flaky)()
    assert flaky.calls == 1


@pytest.mark.parametrize('final_at, attempts, expected', [(2, 5, 2), (9, 3, 3)])
def test_retry_until_a_final_result_or_the_last_attempt(final_at, attempts, expected):
    results = iter(range(1, 10))
    assert waits.retry(attempts, 0, until=lambda result: result >= final_at)(lambda: next(results))() == expected


def test_wait_until_returns_once_the_condition_holds():
    answers = iter([False, False, True])
    waits.wait_until(lambda: next(answers), 5, 0, 'never')


def test_wait_until_stops_at_its_deadline():
    polls = []
    with pytest.raises(waits.WaitTimeout, match='web1 did not stop'):
        waits.wait_until(lambda: polls.append(1), 0.05, 0.01, 'web1 did not stop')
    assert 2 <= len(polls) < 50


def test_wait_until_can_say_what_it_saw_last():
    seen = []
    with pytest.raises(waits.WaitTimeout, match='web1 is powering down after 1 poll'):
        waits.wait_until(lambda: seen.append('powering down'), 0, 0,
                         lambda: 'web1 is %s after %d poll' % (seen[-1], len(seen)))
