"""images.pathmatch against what Go's path.Match answers (cases from its documentation and tests)."""

import pytest

from dockerd_py.images.pathmatch import BadPattern, match


@pytest.mark.parametrize("pattern, name, want", [
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("a*", "a", True), ("a*", "abc", True),
    ("a*", "ab/c", False), ("a*/b", "abc/b", True), ("a*/b", "a/c/b", False), ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True), ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True), ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True), ("ab[b-d]", "abc", True), ("ab[e-g]", "abc", False), ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False), ("ab[^e-g]", "abc", True), ("a\\*b", "a*b", True), ("a\\*b", "ab", False),
    ("a?b", "a☺b", True), ("a[^a]b", "a☺b", True), ("a???b", "a☺b", False), ("[!a]usybox", "busybox", False),
    ("[\\]a]", "]", True), ("[\\-]", "-", True), ("[x\\-]", "z", False), ("*x", "xxx", True),
])
def test_matches_as_go(pattern, name, want):
    assert match(pattern, name) is want


@pytest.mark.parametrize("pattern", ["[", "[^", "[^bc", "a[", "[-]", "[x-]", "[]a]", "\\", "a*\\", "[\\", "[a-"])
def test_bad_patterns_raise_even_where_the_name_fails_first(pattern):
    with pytest.raises(BadPattern, match="syntax error in pattern"):
        match(pattern, "zzz-not-it")
