"""Selector logic that needs no database: version parsing and version ranges."""

from __future__ import annotations

import pytest

from directory.selectors import VersionRange, parse_version


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("14.4.1", (14, 4, 1)),
        ("22.04 LTS", (22, 4)),
        ("10.0.19045.3693", (10, 0, 19045, 3693)),
        ("v2", (2,)),
        ("", None),
        ("Sonoma", None),
    ],
)
def test_parse_version(text, parsed):
    assert parse_version(text) == parsed


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        (VersionRange(below="14.4"), {"13.6": True, "14.4": False, "14.4.0": False, "14.3.9": True, "": False}),
        (VersionRange(at_least="14.10"), {"14.9": False, "14.10": True, "15": True, "14.10.0.1": True}),
        (VersionRange(at_least="13", below="14"), {"13": True, "13.99": True, "14": False, "12.7": False}),
    ],
)
def test_version_ranges_compare_number_by_number(versions, expected):
    assert {text: versions.matches(text) for text in expected} == expected
