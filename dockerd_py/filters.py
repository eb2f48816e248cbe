"""The matching rules shared by every `filters` query: labels, yes/no filters and file-tree sizes.

(Decoding the `filters` parameter itself is the API's job: api/params.py.)
"""

import os
from collections.abc import Mapping

from .errors import InvalidParameter


def label_matches(labels: Mapping[str, str] | None, item: str) -> bool:
    """`key` means the label is present; `key=value` means it has that value."""
    key, sep, value = item.partition("=")
    labels = labels or {}
    return key in labels and (not sep or labels[key] == value)


def labels_match(labels: Mapping[str, str] | None, wanted: list[str], unwanted: list[str] = ()) -> bool:
    """Docker's `label` (every one must match) and `label!` (none may match) filters."""
    return all(label_matches(labels, item) for item in wanted) and \
        not any(label_matches(labels, item) for item in unwanted)


def exact_bool(filters: Mapping[str, list[str]], key: str, true_words: tuple[str, ...] = ("true",),
               false_words: tuple[str, ...] = ("false",)) -> bool | None:
    """moby's ExactMatch test of a yes/no filter (images and volumes `dangling`, ps `is-task`): None when
    absent; yes if any value is a true word, else no if any is a false word, else refused with the
    daemon's invalidFilter text (the values as Go prints a []string)."""
    if key not in filters:
        return None
    values = filters[key]
    if any(v in true_words for v in values):
        return True
    if any(v in false_words for v in values):
        return False
    raise InvalidParameter(f"invalid filter '{key}=[{' '.join(values)}]'")


def bool_or_default(filters: Mapping[str, list[str]], key: str, default: bool) -> bool:
    """filters.Args.GetBoolOrDefault (prune's `dangling`): one of true/1 or false/0, not both."""
    if key not in filters:
        return default
    values = filters[key]
    is_true, is_false = bool({"true", "1"} & set(values)), bool({"false", "0"} & set(values))
    if not values or is_true == is_false:
        raise InvalidParameter(f"invalid filter '{key}" + (f"={','.join(values)}'" if values else "'"))
    return is_true


def prune_until(filters: Mapping[str, list[str]]) -> str | None:
    """The one `until` of a prune (getUntilFromPruneFilters), unparsed."""
    values = filters.get("until") or []
    if len(values) > 1:
        raise InvalidParameter("more than one until filter specified")
    return values[0] if values else None


def tree_size(root: str) -> int:
    """Bytes used by the files under `root`, each hard-linked inode counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in filenames + dirnames:
            try:
                st = os.lstat(os.path.join(dirpath, entry))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total
